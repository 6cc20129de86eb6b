//! Every Kubernetes object flinkops builds for the example manifests (the quickstart's `examples-repo/` and
//! upstream's examples in `../shared/compat/`) is valid against the Kubernetes schemas, checked offline by
//! `kubernetes-validate --strict` (unknown fields are errors).

mod common;

use flinkops::crd::FlinkDeployment;
use flinkops::kubernetes::{KubernetesDefaults, build_cluster};
use flinkops::manifests::load::{discover, load_paths};
use flinkops::runtime::{DeployIntent, Restore, cluster};
use flinkops::validation::Resource;

/// Every FlinkDeployment under the example directories, as if stored (with a uid and a generation).
fn example_deployments() -> Vec<(String, FlinkDeployment)> {
    let dirs = [common::repo_root().join("examples-repo"), common::shared_dir().join("compat/upstream-examples")];
    let files = discover(&dirs).unwrap_or_else(|e| panic!("{e} (is ../shared beside the repository?)"));
    let set = load_paths(&files);
    set.manifests
        .into_iter()
        .filter_map(|manifest| match manifest.resource {
            Some(Resource::Deployment(deployment)) => Some((manifest.file, *deployment)),
            _ => None,
        })
        .enumerate()
        .map(|(index, (file, mut deployment))| {
            deployment.metadata.uid = Some(format!("00000000-0000-0000-0000-{index:012}"));
            deployment.metadata.generation = Some(1);
            (file, deployment)
        })
        .collect()
}

#[test]
fn every_object_built_for_the_examples_is_schema_valid() {
    let deployments = example_deployments();
    assert!(deployments.len() >= 15, "only {} FlinkDeployments found", deployments.len());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut with_ingress = 0;
    let mut with_template = 0;
    let mut objects_built = 0;
    for (index, (file, deployment)) in deployments.iter().enumerate() {
        let restore = deployment
            .spec
            .job
            .as_ref()
            .and_then(|j| j.initial_savepoint_path.clone())
            .map(|path| Restore { path, allow_non_restored_state: true });
        let intent = DeployIntent { job_id: Some(format!("{index:032x}")), restore };
        let spec = cluster::build(deployment, &intent).unwrap_or_else(|e| panic!("{file}: {e}"));
        let objects =
            build_cluster(deployment, &spec, &KubernetesDefaults::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        with_ingress += usize::from(objects.ingress.is_some());
        objects_built += objects.to_values().unwrap().len();
        with_template += usize::from(deployment.spec.pod_template.is_some());
        let path = dir.path().join(format!("{index:02}-{}.yaml", spec.id.name));
        common::kube_tools::write_yaml_documents(&path, &objects.to_values().unwrap());
        files.push(path);
    }
    assert!(with_ingress >= 2 && with_template >= 2, "the corpus lost its ingress or pod template examples");
    common::kube_tools::validate_strict(&files);
    eprintln!("{objects_built} objects of {} FlinkDeployments are schema-valid", deployments.len());
}

#[test]
fn the_validator_rejects_an_unknown_field() {
    // Guards the check above: a strict validator that passes everything would prove nothing.
    let (_, deployment) = example_deployments().into_iter().next().unwrap();
    let intent = DeployIntent { job_id: Some("0".repeat(32)), restore: None };
    let spec = cluster::build(&deployment, &intent).unwrap();
    let mut values = build_cluster(&deployment, &spec, &KubernetesDefaults::default()).unwrap().to_values().unwrap();
    let jobmanager = values.iter_mut().find(|v| v["kind"] == "Deployment").unwrap();
    jobmanager["spec"]["template"]["spec"]["containers"][0]["bogusField"] = serde_json::json!(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    common::kube_tools::write_yaml_documents(&path, &values);
    let report = common::kube_tools::check_strict(&[path]).expect_err("an unknown field must fail");
    assert!(report.contains("'bogusField' was unexpected"), "{report}");
}
