//! How a cluster is reached: the REST Service `<name>-rest` (type from `kubernetes.rest-service.exposed.type`),
//! the headless internal Service `<name>` (JobManager RPC and blob server, which TaskManagers connect to) and the
//! Ingress built from `spec.ingress` the way upstream builds it.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec as K8sIngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{self, BLOB_PORT, Component, JOBMANAGER_RPC_PORT, REST_PORT};
use super::{BuildError, Cluster};
use crate::crd::IngressSpec;

/// Flink's key for the REST Service type.
pub const REST_SERVICE_TYPE: &str = "kubernetes.rest-service.exposed.type";

fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// The REST Service `<name>-rest`: port 8081 of the JobManager pods.
///
/// # Errors
/// [`BuildError::InvalidConfig`] when `kubernetes.rest-service.exposed.type` is not one of Flink's values
/// (`ClusterIP`, `NodePort`, `LoadBalancer`, `Headless_ClusterIP`).
pub(super) fn rest_service(cluster: &Cluster<'_>) -> Result<Service, BuildError> {
    let exposed = cluster.flink_config.get(REST_SERVICE_TYPE).map_or("ClusterIP", |v| v.trim());
    let (type_, cluster_ip) = match exposed {
        "ClusterIP" => ("ClusterIP", None),
        "NodePort" => ("NodePort", None),
        "LoadBalancer" => ("LoadBalancer", None),
        "Headless_ClusterIP" => ("ClusterIP", Some("None".to_owned())),
        other => {
            return Err(BuildError::InvalidConfig {
                cluster: cluster.spec.id.clone(),
                key: REST_SERVICE_TYPE.to_owned(),
                reason: format!("{other:?} is not one of ClusterIP, NodePort, LoadBalancer, Headless_ClusterIP"),
            });
        }
    };
    let name = cluster.name();
    Ok(Service {
        metadata: cluster.metadata(names::rest_service(name), names::component_labels(name, Component::JobManager)),
        spec: Some(ServiceSpec {
            type_: Some(type_.to_owned()),
            cluster_ip,
            selector: Some(names::selector(name, Component::JobManager)),
            ports: Some(vec![service_port("rest", REST_PORT)]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The headless internal Service `<name>`: JobManager RPC (6123) and blob server (6124).
pub(super) fn internal_service(cluster: &Cluster<'_>) -> Service {
    let name = cluster.name();
    Service {
        metadata: cluster.metadata(names::internal_service(name), names::component_labels(name, Component::JobManager)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some("None".into()),
            selector: Some(names::selector(name, Component::JobManager)),
            ports: Some(vec![
                service_port("jobmanager-rpc", JOBMANAGER_RPC_PORT),
                service_port("blobserver", BLOB_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Host and path of an ingress template, with `{{name}}` and `{{namespace}}` (any case) replaced, read as the URL
/// `http://<template>` the way upstream reads it: an empty host means a rule for every host, an empty path none.
pub fn ingress_host_and_path(template: &str, name: &str, namespace: &str) -> (Option<String>, Option<String>) {
    let substituted = replace_ignore_case(&replace_ignore_case(template, "{{name}}", name), "{{namespace}}", namespace);
    let lower = substituted.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &substituted[7..]
    } else if lower.starts_with("https://") {
        &substituted[8..]
    } else {
        &substituted[..]
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    // A URL's host has no user info and no port.
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    ((!host.is_empty()).then(|| host.to_owned()), (!path.is_empty()).then(|| path.to_owned()))
}

fn replace_ignore_case(text: &str, pattern: &str, with: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, _) in lower.match_indices(pattern) {
        out.push_str(&text[last..start]);
        out.push_str(with);
        last = start + pattern.len();
    }
    out.push_str(&text[last..]);
    out
}

/// The Ingress `<name>` for `spec.ingress`: one rule to the REST Service, `pathType: ImplementationSpecific`, with
/// the spec's class, annotations, labels and TLS.
///
/// # Errors
/// [`BuildError::InvalidIngress`] when the spec has no template.
pub(super) fn ingress(cluster: &Cluster<'_>, spec: &IngressSpec) -> Result<Ingress, BuildError> {
    let name = cluster.name();
    let template =
        spec.template.as_deref().filter(|t| !t.trim().is_empty()).ok_or_else(|| BuildError::InvalidIngress {
            cluster: cluster.spec.id.clone(),
            reason: "spec.ingress.template is required".into(),
        })?;
    let (host, path) = ingress_host_and_path(template.trim(), name, cluster.namespace());
    let mut labels = spec.labels.clone().unwrap_or_default();
    labels.extend(names::common_labels(name));
    let mut metadata = cluster.metadata(names::ingress(name), labels);
    metadata.annotations = spec.annotations.clone().filter(|a| !a.is_empty());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: names::rest_service(name),
            port: Some(ServiceBackendPort { number: Some(REST_PORT), ..Default::default() }),
        }),
        ..Default::default()
    };
    let tls = spec.tls.as_ref().map(|entries| {
        entries
            .iter()
            .map(|t| IngressTLS { hosts: t.hosts.clone(), secret_name: t.secret_name.clone() })
            .collect::<Vec<_>>()
    });
    Ok(Ingress {
        metadata,
        spec: Some(K8sIngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host,
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath { path, path_type: "ImplementationSpecific".into(), backend }],
                }),
            }]),
            tls: tls.filter(|t| !t.is_empty()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_templates_are_read_as_upstream_reads_them() {
        let cases = [
            (
                "flink.example.com/{{namespace}}/{{name}}(/|$)(.*)",
                Some("flink.example.com"),
                Some("/prod/orders(/|$)(.*)"),
            ),
            ("/{{namespace}}/{{name}}(/|$)(.*)", None, Some("/prod/orders(/|$)(.*)")),
            ("{{name}}.{{namespace}}.flink.k8s.io", Some("orders.prod.flink.k8s.io"), None),
            ("https://{{NAME}}.example.com:8443/ui", Some("orders.example.com"), Some("/ui")),
        ];
        for (template, host, path) in cases {
            let (h, p) = ingress_host_and_path(template, "orders", "prod");
            assert_eq!((h.as_deref(), p.as_deref()), (host, path), "{template}");
        }
    }
}
