//! Pure: what the Kubernetes runtime adds to the builders' objects (the job id, a configuration hash that restarts
//! pods when their configuration changes), which objects a cluster can have and which of them a new spec no longer
//! produces, ownership, the REST URL template and version notes. The builders themselves are `crate::kubernetes`.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::crd::FlinkVersion;
use crate::kubernetes::{ClusterObjects, names};
use crate::runtime::{ClusterId, ClusterSpec};

/// Annotation on the JobManager Deployment with the job id an application cluster was started with.
pub const JOB_ID_ANNOTATION: &str = "flinkops.io/job-id";
/// Pod template annotation with a hash of the ConfigMap's content: a mounted ConfigMap that changes does not
/// restart pods, but a changed pod template does.
pub const CONFIG_HASH_ANNOTATION: &str = "flinkops.io/config-hash";
/// The default REST URL: the REST Service's cluster DNS name.
pub const DEFAULT_REST_URL_TEMPLATE: &str = "http://{{name}}-rest.{{namespace}}.svc:8081";

/// The kinds of object a cluster has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    ConfigMap,
    Service,
    Deployment,
    Ingress,
}

/// One object of a cluster, by kind and name (the namespace is the cluster's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ObjectRef {
    pub(super) kind: Kind,
    pub(super) name: String,
}

impl ObjectRef {
    fn new(kind: Kind, name: String) -> Self {
        ObjectRef { kind, name }
    }
}

/// Every object a cluster named `cluster` can have, in the order to delete them: the way in (Ingress) first, the
/// configuration last.
pub(super) fn every_object(cluster: &str) -> Vec<ObjectRef> {
    vec![
        ObjectRef::new(Kind::Ingress, names::ingress(cluster)),
        ObjectRef::new(Kind::Deployment, names::taskmanager_deployment(cluster)),
        ObjectRef::new(Kind::Deployment, names::jobmanager_deployment(cluster)),
        ObjectRef::new(Kind::Service, names::rest_service(cluster)),
        ObjectRef::new(Kind::Service, names::internal_service(cluster)),
        ObjectRef::new(Kind::ConfigMap, names::config_map(cluster)),
    ]
}

/// The objects a cluster can have that `objects` does not contain: what a deploy of `objects` must remove (an
/// Ingress dropped from the spec).
pub(super) fn stale(cluster: &str, objects: &ClusterObjects) -> Vec<ObjectRef> {
    let produced = [
        Some(ObjectRef::new(Kind::ConfigMap, names::config_map(cluster))),
        Some(ObjectRef::new(Kind::Service, names::rest_service(cluster))),
        Some(ObjectRef::new(Kind::Service, names::internal_service(cluster))),
        Some(ObjectRef::new(Kind::Deployment, names::jobmanager_deployment(cluster))),
        Some(ObjectRef::new(Kind::Deployment, names::taskmanager_deployment(cluster))),
        objects.ingress.as_ref().map(|_| ObjectRef::new(Kind::Ingress, names::ingress(cluster))),
    ];
    every_object(cluster).into_iter().filter(|object| !produced.contains(&Some(object.clone()))).collect()
}

/// Whether the object is controlled by the resource with `uid`: pruning removes only what this resource created,
/// never an object of the same name that someone else made.
pub(super) fn owned_by(metadata: &ObjectMeta, uid: &str) -> bool {
    metadata.owner_references.iter().flatten().any(|owner| owner.uid == uid && owner.controller == Some(true))
}

/// Adds what the runtime records on the objects: the job id on the JobManager Deployment, and the configuration
/// hash on both pod templates.
pub(super) fn stamp(objects: &mut ClusterObjects, spec: &ClusterSpec) {
    if let Some(job) = &spec.job {
        objects
            .jobmanager
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(JOB_ID_ANNOTATION.to_owned(), job.job_id.clone());
    }
    let hash = config_hash(objects);
    for deployment in [&mut objects.jobmanager, &mut objects.taskmanager] {
        annotate_template(&mut deployment.spec.template, &hash);
    }
}

fn annotate_template(template: &mut PodTemplateSpec, hash: &str) {
    template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(Default::default)
        .insert(CONFIG_HASH_ANNOTATION.to_owned(), hash.to_owned());
}

/// SHA-256 of the ConfigMap's data (a `BTreeMap`, so the JSON is canonical), first 16 hex digits.
fn config_hash(objects: &ClusterObjects) -> String {
    let mut hasher = Sha256::new();
    // NB: serialising a map of strings cannot fail; an empty hash would only restart pods once.
    hasher.update(serde_json::to_vec(&objects.config_map.data).unwrap_or_default());
    hasher.update(serde_json::to_vec(&objects.config_map.binary_data).unwrap_or_default());
    let digest = hex::encode(hasher.finalize());
    digest[..16].to_owned()
}

/// The REST URL of a cluster: `template` with `{{name}}` and `{{namespace}}` replaced.
pub(super) fn rest_url(template: &str, id: &ClusterId) -> String {
    template.replace("{{name}}", &id.name).replace("{{namespace}}", &id.namespace)
}

/// A note when the image's tag names another Flink `major.minor` than `spec.flinkVersion` (a mismatch the local
/// runtime reports too): Flink then runs the image's version.
pub(super) fn version_note(image: &str, version: Option<FlinkVersion>) -> Option<String> {
    let (major, minor) = version?.major_minor();
    // The tag is after the last ':' of the last path segment; a digest-only reference has none to compare.
    let last_segment = image.split('@').next()?.rsplit('/').next()?;
    let tag = last_segment.split_once(':')?.1;
    let mut parts = tag.split(['.', '-', '_']);
    let image_major: u32 = parts.next()?.parse().ok()?;
    let image_minor: u32 = parts.next()?.parse().ok()?;
    ((image_major, image_minor) != (major, minor)).then(|| {
        format!(
            "flinkVersion is v{major}_{minor} but the image {image} is tagged {image_major}.{image_minor}; Flink runs the image's version"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::{KubernetesDefaults, build_cluster};
    use crate::runtime::{DeployIntent, cluster};

    const ORDERS: &str = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: orders, namespace: streaming, uid: u-1, generation: 2}\nspec:\n  flinkVersion: v2_3\n  job: {jarURI: \"local:///job.jar\"}\n";

    fn objects(yaml: &str, job_id: &str) -> (ClusterSpec, ClusterObjects) {
        let deployment: crate::crd::FlinkDeployment = crate::manifests::yaml::from_str(yaml).unwrap();
        let spec = cluster::build(&deployment, &DeployIntent { job_id: Some(job_id.into()), restore: None }).unwrap();
        let objects = build_cluster(&deployment, &spec, &KubernetesDefaults::default()).unwrap();
        (spec, objects)
    }

    fn template_hash(objects: &ClusterObjects) -> String {
        let template = &objects.jobmanager.spec.template;
        template.metadata.as_ref().unwrap().annotations.as_ref().unwrap()[CONFIG_HASH_ANNOTATION].clone()
    }

    #[test]
    fn only_an_ingress_dropped_from_the_spec_is_stale() {
        let (_, without) = objects(ORDERS, "a");
        assert_eq!(stale("orders", &without), [ObjectRef::new(Kind::Ingress, "orders".into())]);
        let with_ingress = ORDERS.replace("spec:\n", "spec:\n  ingress: {template: \"{{name}}.example.com\"}\n");
        let (_, with) = objects(&with_ingress, "a");
        assert_eq!(stale("orders", &with), []);
    }

    #[test]
    fn every_object_is_deleted_ingress_first_configuration_last() {
        let kinds: Vec<_> = every_object("orders").into_iter().map(|o| (o.kind, o.name)).collect();
        assert_eq!(kinds.first(), Some(&(Kind::Ingress, "orders".to_owned())));
        assert_eq!(kinds.last(), Some(&(Kind::ConfigMap, "flink-config-orders".to_owned())));
        assert_eq!(kinds.len(), 6);
    }

    #[test]
    fn stamping_records_the_job_id_and_a_hash_that_follows_the_configuration() {
        let (spec, mut first) = objects(ORDERS, "a");
        stamp(&mut first, &spec);
        assert_eq!(first.jobmanager.metadata.annotations.as_ref().unwrap()[JOB_ID_ANNOTATION], "a");
        let (spec, mut same) = objects(ORDERS, "b");
        stamp(&mut same, &spec);
        assert_eq!(template_hash(&first), template_hash(&same), "the job id is in the args, not the hash");
        let changed = ORDERS.replace("spec:\n", "spec:\n  flinkConfiguration: {pipeline.max-parallelism: \"64\"}\n");
        let (spec, mut other) = objects(&changed, "a");
        stamp(&mut other, &spec);
        assert_ne!(template_hash(&first), template_hash(&other));
        let tm_template = &other.taskmanager.spec.template;
        assert!(
            tm_template.metadata.as_ref().unwrap().annotations.as_ref().unwrap().contains_key(CONFIG_HASH_ANNOTATION)
        );
    }

    #[test]
    fn ownership_is_the_controller_reference_with_the_uid() {
        let (_, objects) = objects(ORDERS, "a");
        assert!(owned_by(&objects.config_map.metadata, "u-1"));
        assert!(!owned_by(&objects.config_map.metadata, "u-2"));
        assert!(!owned_by(&ObjectMeta::default(), "u-1"));
    }

    #[test]
    fn the_rest_url_template_names_the_cluster() {
        let id = ClusterId { namespace: "streaming".into(), name: "orders".into() };
        assert_eq!(rest_url(DEFAULT_REST_URL_TEMPLATE, &id), "http://orders-rest.streaming.svc:8081");
        assert_eq!(
            rest_url("https://flink.example.com/{{namespace}}/{{name}}/", &id),
            "https://flink.example.com/streaming/orders/"
        );
    }

    #[test]
    fn a_note_names_an_image_of_another_flink_version() {
        let cases = [
            ("flink:2.3", None),
            ("flink:2.3.1-scala_2.12-java17", None),
            (
                "registry.example.com:5000/team/flink:1.20",
                Some(
                    "flinkVersion is v2_3 but the image registry.example.com:5000/team/flink:1.20 is tagged 1.20; Flink runs the image's version",
                ),
            ),
            ("registry.example.com:5000/team/flink", None),
            ("flink@sha256:abcd", None),
            ("my-job:latest", None),
        ];
        for (image, expected) in cases {
            assert_eq!(version_note(image, Some(FlinkVersion::v2_3)).as_deref(), expected, "{image}");
        }
        assert_eq!(version_note("flink:1.20", None), None);
    }
}
