//! The generated CRDs: `crds/` must match what `flinkops crds` renders, and our schemas must accept every
//! property path the upstream schemas in `../shared/compat/upstream-crds/` accept.

mod common;

use std::collections::BTreeSet;

use flinkops::crd::{Kind, crd_file_name, render_crd_yaml};
use serde_json::Value;

#[test]
fn committed_crds_are_fresh() {
    for kind in Kind::ALL {
        let path = common::repo_root().join("crds").join(crd_file_name(kind));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let rendered = render_crd_yaml(kind).expect("render");
        assert!(
            committed == rendered,
            "{} is stale: run `cargo run -- crds --output-dir crds` and commit the result",
            path.display()
        );
    }
}

/// Every property path of a schema; `[]` marks list items and `{}` map values.
fn property_paths(schema: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            let path = format!("{prefix}.{name}");
            out.insert(path.clone());
            property_paths(child, &path, out);
        }
    }
    if let Some(items) = schema.get("items") {
        property_paths(items, &format!("{prefix}[]"), out);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        property_paths(additional, &format!("{prefix}{{}}"), out);
    }
    for combinator in ["anyOf", "allOf", "oneOf"] {
        for branch in schema.get(combinator).and_then(Value::as_array).into_iter().flatten() {
            property_paths(branch, prefix, out);
        }
    }
}

/// Whether our schema accepts anything at `path` (a property, or free-form content above it).
fn accepts(schema: &Value, path: &str) -> bool {
    let mut node = schema;
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() {
        if node.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true) {
            return true;
        }
        if let Some(after) = rest.strip_prefix("[]") {
            let Some(items) = node.get("items") else { return false };
            node = items;
            rest = after.trim_start_matches('.');
        } else if let Some(after) = rest.strip_prefix("{}") {
            let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object()) else { return false };
            node = additional;
            rest = after.trim_start_matches('.');
        } else {
            let end = rest.find(['.', '[', '{']).unwrap_or(rest.len());
            let name = &rest[..end];
            let Some(child) = node.get("properties").and_then(|p| p.get(name)) else { return false };
            node = child;
            rest = rest[end..].trim_start_matches('.');
        }
    }
    true
}

#[test]
fn our_schemas_accept_every_upstream_property_path() {
    let upstream_dir = common::shared_dir().join("compat/upstream-crds");
    for kind in Kind::ALL {
        let upstream_file = upstream_dir.join(crd_file_name(kind));
        let upstream_text = std::fs::read_to_string(&upstream_file)
            .unwrap_or_else(|e| panic!("{}: {e} (is ../shared beside the repository?)", upstream_file.display()));
        let parsed = flinkops::manifests::yaml::parse_documents(&upstream_text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let upstream = parsed.documents[0].value.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().unwrap();
        let ours = serde_json::to_value(kind.crd()).unwrap();
        let ours = ours.pointer("/spec/versions/0/schema/openAPIV3Schema").unwrap();

        let mut paths = BTreeSet::new();
        property_paths(&upstream, "", &mut paths);
        assert!(paths.len() > 50, "{kind}: only {} upstream paths found", paths.len());
        let missing: Vec<&String> = paths.iter().filter(|p| !accepts(ours, p)).collect();
        assert!(missing.is_empty(), "{kind}: our schema lacks {} upstream paths: {missing:#?}", missing.len());
    }
}

#[test]
fn crds_keep_upstream_names_columns_and_subresources() {
    let deployment = serde_json::to_value(Kind::FlinkDeployment.crd()).unwrap();
    assert_eq!(deployment.pointer("/spec/names/shortNames/0"), Some(&Value::from("flinkdep")));
    let version = deployment.pointer("/spec/versions/0").unwrap();
    assert_eq!(version["name"], "v1beta1");
    assert_eq!(
        version.pointer("/subresources/scale/specReplicasPath"),
        Some(&Value::from(".spec.taskManager.replicas"))
    );
    assert_eq!(
        version.pointer("/subresources/scale/statusReplicasPath"),
        Some(&Value::from(".status.taskManager.replicas"))
    );
    assert_eq!(
        version.pointer("/subresources/scale/labelSelectorPath"),
        Some(&Value::from(".status.taskManager.labelSelector"))
    );
    let columns: Vec<(&str, &str)> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["jsonPath"].as_str().unwrap()))
        .collect();
    assert_eq!(columns, [("Job Status", ".status.jobStatus.state"), ("Lifecycle State", ".status.lifecycleState")]);
    let session = serde_json::to_value(Kind::FlinkSessionJob.crd()).unwrap();
    assert_eq!(session.pointer("/spec/names/shortNames/0"), Some(&Value::from("sessionjob")));
    assert!(session.pointer("/spec/versions/0/subresources/status").is_some());
    assert!(session.pointer("/spec/versions/0/subresources/scale").is_none());
}
