//! `metadata.managedFields` as the local store keeps it: which field manager last set each top-level spec field and
//! each label and annotation key, written in Kubernetes' `FieldsV1` format so one reader ([`field_managers`]) serves
//! both stores. The Kubernetes API server keeps the real thing (per leaf); the local store keeps this coarser record.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta, Time};
use serde_json::{Map, Value};

use crate::manifests::path::{FieldPath, Segment};

/// The fields an apply writes, with their values: `spec.<field>`, `metadata.labels.<key>`,
/// `metadata.annotations.<key>`.
pub(super) type Tracked = BTreeMap<FieldPath, Value>;

/// The tracked fields of an object whose spec serializes to `spec`.
pub(super) fn tracked(meta: &ObjectMeta, spec: &Value) -> Tracked {
    let mut fields = Tracked::new();
    let metadata = FieldPath::root().key("metadata");
    for (map_name, map) in [("labels", &meta.labels), ("annotations", &meta.annotations)] {
        for (key, value) in map.iter().flatten() {
            fields.insert(metadata.key(map_name).key(key), Value::String(value.clone()));
        }
    }
    if let Value::Object(spec) = spec {
        for (key, value) in spec {
            fields.insert(FieldPath::root().key("spec").key(key), value.clone());
        }
    }
    fields
}

/// Which manager wrote each field recorded in `meta.managedFields`: every leaf of every entry's `FieldsV1` tree, as a
/// path (`spec.image`, `metadata.labels["app.kubernetes.io/name"]`). Reads Kubernetes' own entries too; list keys
/// (`k:{..}`, `v:..`) are kept verbatim as path keys. When two entries claim a field, the later one wins.
pub fn field_managers(meta: &ObjectMeta) -> BTreeMap<FieldPath, String> {
    let mut owners = BTreeMap::new();
    for entry in meta.managed_fields.iter().flatten() {
        let Some(manager) = &entry.manager else { continue };
        for path in entry_fields(entry) {
            owners.insert(path, manager.clone());
        }
    }
    owners
}

/// The leaves one managedFields entry claims, as paths (empty without a `FieldsV1` tree).
pub(super) fn entry_fields(entry: &ManagedFieldsEntry) -> Vec<FieldPath> {
    let mut paths = Vec::new();
    if let Some(FieldsV1(fields)) = &entry.fields_v1 {
        collect_leaves(fields, &FieldPath::root(), &mut |path| paths.push(path));
    }
    paths
}

/// The manager that last wrote `path` or the nearest recorded field above it (`spec.taskManager` answers for
/// `spec.taskManager.replicas` in the local store's coarse record).
pub fn manager_of(meta: &ObjectMeta, path: &FieldPath) -> Option<String> {
    let owners = field_managers(meta);
    let mut probe = path.clone();
    loop {
        if let Some(manager) = owners.get(&probe) {
            return Some(manager.clone());
        }
        if probe.is_root() {
            return None;
        }
        probe = probe.parent();
    }
}

fn collect_leaves(node: &Value, path: &FieldPath, found: &mut impl FnMut(FieldPath)) {
    let children: Vec<(&String, &Value)> = match node {
        Value::Object(map) => map.iter().filter(|(key, _)| key.as_str() != ".").collect(),
        _ => Vec::new(),
    };
    if children.is_empty() {
        if !path.is_root() {
            found(path.clone());
        }
        return;
    }
    for (key, child) in children {
        let segment = key.strip_prefix("f:").unwrap_or(key);
        collect_leaves(child, &path.key(segment), found);
    }
}

/// The managed fields after `manager` applied `new` over `old` (`None` on create): a field whose value it set or
/// changed, or that had no recorded writer, becomes the manager's; an unchanged field keeps its last writer; a field
/// no longer present is dropped. `now` stamps the applying manager's entry; other entries keep their time.
pub(super) fn after_apply(
    previous: &ObjectMeta,
    old: Option<&Tracked>,
    new: &Tracked,
    manager: &str,
    now: &Time,
) -> Option<Vec<ManagedFieldsEntry>> {
    let owners = field_managers(previous);
    let mut times: BTreeMap<String, Option<Time>> = previous
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|entry| Some((entry.manager.clone()?, entry.time.clone())))
        .collect();
    times.insert(manager.to_owned(), Some(now.clone()));

    let mut by_manager: BTreeMap<&str, Vec<&FieldPath>> = BTreeMap::new();
    for (path, value) in new {
        let unchanged = old.and_then(|old| old.get(path)) == Some(value);
        let owner = match owners.get(path) {
            Some(owner) if unchanged => owner.as_str(),
            _ => manager,
        };
        by_manager.entry(owner).or_default().push(path);
    }
    if by_manager.is_empty() {
        return None;
    }
    let entries = by_manager
        .into_iter()
        .map(|(owner, paths)| ManagedFieldsEntry {
            api_version: Some(crate::crd::API_VERSION.to_owned()),
            fields_type: Some("FieldsV1".to_owned()),
            fields_v1: Some(FieldsV1(fields_tree(&paths))),
            manager: Some(owner.to_owned()),
            operation: Some("Apply".to_owned()),
            subresource: None,
            time: times.get(owner).cloned().flatten(),
        })
        .collect();
    Some(entries)
}

fn fields_tree(paths: &[&FieldPath]) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for segment in &path.0 {
            let key = match segment {
                Segment::Key(key) => format!("f:{key}"),
                Segment::Index(index) => format!("i:{index}"),
            };
            let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            let Value::Object(map) = child else { break };
            node = map;
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    fn meta_with(entries: Option<Vec<ManagedFieldsEntry>>) -> ObjectMeta {
        ObjectMeta { managed_fields: entries, ..ObjectMeta::default() }
    }

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text)
    }

    #[test]
    fn a_create_gives_every_field_to_the_applier() {
        let meta = ObjectMeta {
            labels: Some([("app.kubernetes.io/name".to_owned(), "wc".to_owned())].into()),
            ..ObjectMeta::default()
        };
        let new = tracked(&meta, &json!({"image": "flink:1.20", "job": {"parallelism": 2}}));
        let entries = after_apply(&ObjectMeta::default(), None, &new, "flinkops", &now());
        let entries = entries.unwrap_or_default();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].fields_v1,
            Some(FieldsV1(json!({
                "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                "f:spec": {"f:image": {}, "f:job": {}}
            })))
        );
        let owners = field_managers(&meta_with(Some(entries)));
        assert_eq!(owners.get(&path("spec.image")).map(String::as_str), Some("flinkops"));
        assert_eq!(
            owners.get(&FieldPath::root().key("metadata").key("labels").key("app.kubernetes.io/name")),
            Some(&"flinkops".to_owned())
        );
    }

    #[test]
    fn a_changed_field_moves_to_its_writer_and_unchanged_ones_stay() {
        let old = tracked(&ObjectMeta::default(), &json!({"image": "a", "taskManager": {"replicas": 1}}));
        let first = meta_with(after_apply(&ObjectMeta::default(), None, &old, "flinkops", &now()));
        let new = tracked(&ObjectMeta::default(), &json!({"image": "a", "taskManager": {"replicas": 3}}));
        let second = meta_with(after_apply(&first, Some(&old), &new, "hpa", &now()));
        assert_eq!(manager_of(&second, &path("spec.image")).as_deref(), Some("flinkops"));
        assert_eq!(manager_of(&second, &path("spec.taskManager.replicas")).as_deref(), Some("hpa"));
        assert_eq!(manager_of(&second, &path("spec.job")), None);
    }

    #[test]
    fn a_removed_field_is_forgotten() {
        let old = tracked(&ObjectMeta::default(), &json!({"image": "a", "restartNonce": 1}));
        let first = meta_with(after_apply(&ObjectMeta::default(), None, &old, "flinkops", &now()));
        let new = tracked(&ObjectMeta::default(), &json!({"image": "a"}));
        let second = meta_with(after_apply(&first, Some(&old), &new, "flinkops", &now()));
        assert_eq!(field_managers(&second).keys().cloned().collect::<Vec<_>>(), vec![path("spec.image")]);
    }

    #[test]
    fn kubernetes_entries_are_read_to_their_leaves() {
        let meta = meta_with(Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl-edit".to_owned()),
            fields_v1: Some(FieldsV1(json!({"f:spec": {"f:taskManager": {".": {}, "f:replicas": {}}}}))),
            ..ManagedFieldsEntry::default()
        }]));
        assert_eq!(
            field_managers(&meta).into_iter().collect::<Vec<_>>(),
            vec![(path("spec.taskManager.replicas"), "kubectl-edit".to_owned())]
        );
    }
}
