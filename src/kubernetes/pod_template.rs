//! Pod template merge, as upstream does it: the common `spec.podTemplate` first, then the JobManager's or
//! TaskManager's own template over it ([`merge_pod_templates`]); then what Flink needs is laid over the result
//! ([`apply_flink_pod`]), with the container named `flink-main-container` as the one that runs Flink.
//!
//! # Merge rules ([`merge_pod_templates`])
//! * Objects merge key by key, recursively; a scalar, or a value whose type differs, is replaced by the overlay's.
//! * Lists merge element by element by index (element *i* of the overlay merges into element *i* of the base;
//!   extra elements are appended). With `kubernetes.operator.pod-template.merge-arrays-by-name: true`, lists whose
//!   elements all are objects with a `name` merge by name instead (unmatched overlay elements are appended).
//!
//! # Flink's settings over the template ([`apply_flink_pod`])
//! * Pod labels and annotations: the template's, then Flink's (Flink's win on the same key).
//! * `serviceAccountName`: Flink's when one is configured, else the template's.
//! * `volumes` and `imagePullSecrets`: the template's plus Flink's (Flink's replace the template's of the same name).
//! * `restartPolicy` is dropped (a Deployment's pods always restart).
//! * The main container is the template's `flink-main-container` (or a new one) with `name`, `image`,
//!   `imagePullPolicy`, `command` and `args` overwritten; `env`, `ports` and `volumeMounts` merged (Flink's replace
//!   the template's of the same name, mount path for mounts); `resources` keep the template's entries except the
//!   ones Flink sets (cpu, memory, ephemeral storage). It is the first container; the template's other containers
//!   (sidecars) follow in their order, untouched, as do init containers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, LocalObjectReference, PodSpec, PodTemplateSpec, ResourceRequirements, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::names::MAIN_CONTAINER;
use crate::crd::PodTemplate;

/// Flink configuration key that switches list merging from by-index to by-name (upstream's key).
pub const MERGE_ARRAYS_BY_NAME: &str = "kubernetes.operator.pod-template.merge-arrays-by-name";

/// `overlay` merged over `base` (see the module docs for the rules). Either may be absent.
///
/// # Errors
/// When the merged JSON no longer reads as a pod template (a field whose type the overlay changed).
pub fn merge_pod_templates(
    base: Option<&PodTemplate>,
    overlay: Option<&PodTemplate>,
    merge_arrays_by_name: bool,
) -> Result<PodTemplate, serde_json::Error> {
    match (base, overlay) {
        (None, None) => Ok(PodTemplate::default()),
        (Some(only), None) | (None, Some(only)) => Ok(only.clone()),
        (Some(base), Some(overlay)) => {
            let mut merged = serde_json::to_value(base)?;
            merge_json(&mut merged, &serde_json::to_value(overlay)?, merge_arrays_by_name);
            serde_json::from_value(merged)
        }
    }
}

/// Merges `from` into `to` by upstream's rules (module docs).
pub fn merge_json(to: &mut Value, from: &Value, merge_arrays_by_name: bool) {
    let (Value::Object(to_map), Value::Object(from_map)) = (&mut *to, from) else {
        *to = from.clone();
        return;
    };
    for (key, from_child) in from_map {
        match to_map.get_mut(key) {
            Some(Value::Array(to_items)) if from_child.is_array() => {
                if let Value::Array(from_items) = from_child {
                    merge_arrays(to_items, from_items, merge_arrays_by_name);
                }
            }
            Some(to_child @ Value::Object(_)) if from_child.is_object() => {
                merge_json(to_child, from_child, merge_arrays_by_name)
            }
            _ => {
                to_map.insert(key.clone(), from_child.clone());
            }
        }
    }
}

fn name_of(item: &Value) -> Option<&str> {
    item.as_object()?.get("name")?.as_str()
}

fn merge_arrays(to: &mut Vec<Value>, from: &[Value], by_name: bool) {
    let mergeable = |items: &[Value]| items.iter().all(|i| name_of(i).is_some());
    if by_name && mergeable(to) && mergeable(from) {
        for item in from {
            match to.iter_mut().find(|t| name_of(t) == name_of(item)) {
                Some(existing) => merge_json(existing, item, by_name),
                None => to.push(item.clone()),
            }
        }
        return;
    }
    for (index, item) in from.iter().enumerate() {
        match to.get_mut(index) {
            Some(existing) if existing.is_object() && item.is_object() => merge_json(existing, item, by_name),
            Some(existing) => *existing = item.clone(),
            None => to.push(item.clone()),
        }
    }
}

/// What Flink needs in a pod, laid over the merged template by [`apply_flink_pod`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlinkPod {
    /// Pod labels (the Deployment's selector among them).
    pub labels: BTreeMap<String, String>,
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
    /// The main container as Flink needs it; its name is forced to `flink-main-container`.
    pub main_container: Container,
    /// Volumes the main container mounts (the configuration).
    pub volumes: Vec<Volume>,
    /// Service account, when one is configured.
    pub service_account: Option<String>,
    /// Image pull secrets.
    pub image_pull_secrets: Vec<String>,
}

/// Lays `flink` over the merged `template` (module docs) and returns the pod template of a Deployment.
pub fn apply_flink_pod(template: PodTemplate, flink: FlinkPod) -> PodTemplateSpec {
    let template_meta = template.metadata.unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.extend(flink.labels);
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.extend(flink.annotations);

    let mut spec = template.spec.unwrap_or_default();
    let mut main = None;
    let mut sidecars = Vec::new();
    for container in std::mem::take(&mut spec.containers) {
        if container.name == MAIN_CONTAINER && main.is_none() {
            main = Some(container);
        } else {
            sidecars.push(container);
        }
    }
    let mut containers = vec![merge_main_container(main.unwrap_or_default(), flink.main_container)];
    containers.extend(sidecars);
    spec.containers = containers;
    spec.restart_policy = None;
    if flink.service_account.is_some() {
        spec.service_account_name = flink.service_account;
        spec.service_account = None;
    }
    spec.volumes = merge_named(spec.volumes.take(), flink.volumes, |v| v.name.clone());
    let secrets = flink.image_pull_secrets.into_iter().map(|name| LocalObjectReference { name }).collect();
    spec.image_pull_secrets = merge_named(spec.image_pull_secrets.take(), secrets, |s| s.name.clone());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: non_empty(labels),
            annotations: non_empty(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec { ..spec }),
    }
}

fn non_empty(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}

/// `template`'s items, with `ours` replacing those of the same key and the rest of `ours` appended; `None` when
/// both are empty.
fn merge_named<T, K: PartialEq>(template: Option<Vec<T>>, ours: Vec<T>, key: impl Fn(&T) -> K) -> Option<Vec<T>> {
    let mut items = template.unwrap_or_default();
    for item in ours {
        match items.iter_mut().find(|existing| key(existing) == key(&item)) {
            Some(existing) => *existing = item,
            None => items.push(item),
        }
    }
    (!items.is_empty()).then_some(items)
}

fn merge_main_container(template: Container, flink: Container) -> Container {
    Container {
        name: MAIN_CONTAINER.to_owned(),
        image: flink.image.or(template.image),
        image_pull_policy: flink.image_pull_policy.or(template.image_pull_policy),
        command: flink.command.or(template.command),
        args: flink.args.or(template.args),
        env: merge_named(template.env, flink.env.unwrap_or_default(), |e| e.name.clone()),
        ports: merge_named(template.ports, flink.ports.unwrap_or_default(), |p| p.name.clone()),
        volume_mounts: merge_named(template.volume_mounts, flink.volume_mounts.unwrap_or_default(), |m| {
            m.mount_path.clone()
        }),
        resources: merge_resources(template.resources, flink.resources),
        readiness_probe: flink.readiness_probe.or(template.readiness_probe),
        liveness_probe: flink.liveness_probe.or(template.liveness_probe),
        startup_probe: flink.startup_probe.or(template.startup_probe),
        ..template
    }
}

fn merge_resources(
    template: Option<ResourceRequirements>,
    flink: Option<ResourceRequirements>,
) -> Option<ResourceRequirements> {
    let Some(flink) = flink else { return template };
    let mut merged = template.unwrap_or_default();
    for (ours, theirs) in [(flink.requests, &mut merged.requests), (flink.limits, &mut merged.limits)] {
        if let Some(ours) = ours {
            theirs.get_or_insert_with(BTreeMap::new).extend(ours);
        }
    }
    if flink.claims.is_some() {
        merged.claims = flink.claims;
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVar, VolumeMount};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    fn template(value: Value) -> PodTemplate {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn objects_merge_recursively_and_scalars_are_replaced() {
        let base = template(
            json!({"metadata": {"labels": {"a": "1", "b": "1"}}, "spec": {"nodeSelector": {"x": "1"}, "hostNetwork": false}}),
        );
        let overlay = template(
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"nodeSelector": {"y": "2"}, "hostNetwork": true}}),
        );
        let merged = serde_json::to_value(merge_pod_templates(Some(&base), Some(&overlay), false).unwrap()).unwrap();
        assert_eq!(
            merged,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [], "nodeSelector": {"x": "1", "y": "2"}, "hostNetwork": true}})
        );
    }

    #[test]
    fn lists_merge_by_index_by_default() {
        let base = template(json!({"spec": {"containers": [
            {"name": "flink-main-container", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}
        ]}}));
        let overlay = template(json!({"spec": {"containers": [{"name": "other", "image": "o:1"}]}}));
        let merged = merge_pod_templates(Some(&base), Some(&overlay), false).unwrap();
        let containers = merged.spec.unwrap().containers;
        let names: Vec<_> = containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["other", "sidecar"], "element 0 is merged into element 0, whatever its name");
        assert_eq!(containers[0].image.as_deref(), Some("o:1"));
        assert_eq!(containers[0].env.as_ref().unwrap()[0].name, "A", "the rest of element 0 stays");
    }

    #[test]
    fn lists_merge_by_name_when_configured() {
        let base = template(json!({"spec": {"containers": [
            {"name": "flink-main-container", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}
        ]}}));
        let overlay = template(json!({"spec": {"containers": [
            {"name": "sidecar", "image": "s:2"},
            {"name": "flink-main-container", "env": [{"name": "B", "value": "2"}]},
            {"name": "new", "image": "n:1"}
        ]}}));
        let merged = merge_pod_templates(Some(&base), Some(&overlay), true).unwrap();
        let containers = merged.spec.unwrap().containers;
        let names: Vec<_> = containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["flink-main-container", "sidecar", "new"]);
        let env: Vec<_> = containers[0].env.as_ref().unwrap().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(env, ["A", "B"], "env lists have names too, so they merge by name");
        assert_eq!(containers[1].image.as_deref(), Some("s:2"));
    }

    #[test]
    fn one_template_alone_is_used_as_is() {
        let only = template(json!({"spec": {"nodeSelector": {"x": "1"}}}));
        assert_eq!(merge_pod_templates(None, Some(&only), false).unwrap(), only);
        assert_eq!(merge_pod_templates(Some(&only), None, false).unwrap(), only);
        assert_eq!(merge_pod_templates(None, None, false).unwrap(), PodTemplate::default());
    }

    fn flink_pod() -> FlinkPod {
        FlinkPod {
            labels: BTreeMap::from([("app".into(), "orders".into())]),
            annotations: BTreeMap::from([("a".into(), "flink".into())]),
            main_container: Container {
                name: "ignored".into(),
                image: Some("flink:2.3".into()),
                args: Some(vec!["taskmanager".into()]),
                env: Some(vec![EnvVar { name: "X".into(), value: Some("flink".into()), ..Default::default() }]),
                volume_mounts: Some(vec![VolumeMount {
                    name: "flink-config-volume".into(),
                    mount_path: "/opt/flink/conf".into(),
                    ..Default::default()
                }]),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([("memory".into(), Quantity("1Gi".into()))])),
                    limits: Some(BTreeMap::from([("memory".into(), Quantity("1Gi".into()))])),
                    ..Default::default()
                }),
                ..Default::default()
            },
            volumes: vec![Volume { name: "flink-config-volume".into(), ..Default::default() }],
            service_account: Some("flink".into()),
            image_pull_secrets: vec!["registry".into()],
        }
    }

    #[test]
    fn flink_settings_overwrite_and_merge_into_the_main_container() {
        let template = template(json!({
            "metadata": {"labels": {"app": "user", "team": "data"}, "annotations": {"a": "user", "b": "user"}},
            "spec": {
                "serviceAccountName": "user-sa",
                "restartPolicy": "Never",
                "imagePullSecrets": [{"name": "registry"}, {"name": "other"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "initContainers": [{"name": "fetch", "image": "busybox"}],
                "containers": [
                    {"name": "log-forwarder", "image": "fluent-bit"},
                    {"name": "flink-main-container", "image": "user:1", "command": ["sleep"],
                     "env": [{"name": "X", "value": "user"}, {"name": "Y", "value": "user"}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                     "resources": {"limits": {"memory": "5Gi", "nvidia.com/gpu": "1"}}}
                ]
            }
        }));
        let pod = apply_flink_pod(template, flink_pod());
        let value = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            value,
            json!({
                "metadata": {"labels": {"app": "orders", "team": "data"}, "annotations": {"a": "flink", "b": "user"}},
                "spec": {
                    "serviceAccountName": "flink",
                    "imagePullSecrets": [{"name": "registry"}, {"name": "other"}],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "flink-config-volume"}],
                    "initContainers": [{"name": "fetch", "image": "busybox"}],
                    "containers": [
                        {"name": "flink-main-container", "image": "flink:2.3", "command": ["sleep"], "args": ["taskmanager"],
                         "env": [{"name": "X", "value": "flink"}, {"name": "Y", "value": "user"}],
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "flink-config-volume", "mountPath": "/opt/flink/conf"}],
                         "resources": {"limits": {"memory": "1Gi", "nvidia.com/gpu": "1"}, "requests": {"memory": "1Gi"}}},
                        {"name": "log-forwarder", "image": "fluent-bit"}
                    ]
                }
            })
        );
    }

    #[test]
    fn without_a_main_container_in_the_template_one_is_added_first() {
        let template = template(json!({"spec": {"containers": [{"name": "sidecar", "image": "s"}]}}));
        let mut flink = flink_pod();
        flink.service_account = None;
        let pod = apply_flink_pod(template, flink);
        let spec = pod.spec.unwrap();
        let names: Vec<_> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["flink-main-container", "sidecar"]);
        assert_eq!(spec.service_account_name, None, "no service account configured: the template's (none) stays");
    }
}
