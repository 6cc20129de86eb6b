//! Validation of `FlinkDeployment` and `FlinkSessionJob` manifests: one library used by `flinkops validate`, the
//! sync, the operator and the admission webhook. Findings are values with a severity, a field path and a message;
//! turning paths into file positions is the caller's business (see `manifests`).

pub mod rules;
pub mod schema;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::crd::{FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, Kind};
use crate::manifests::path::FieldPath;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Works, but probably not as intended.
    Warning,
    /// Rejected: the resource is not applied.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A finding as every report prints it after its location: `severity: path: message`. `flinkops validate` puts
/// `file:line:column: ` in front, the admission webhook `Kind namespace/name: `; both go through here so the texts
/// cannot drift apart.
pub fn describe(severity: Severity, path: &dyn std::fmt::Display, message: &str) -> String {
    format!("{severity}: {path}: {message}")
}

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The field the finding is about.
    pub path: FieldPath,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl Finding {
    /// An error at `path`.
    pub fn error(path: FieldPath, message: impl Into<String>) -> Self {
        Finding { severity: Severity::Error, path, message: message.into() }
    }

    /// A warning at `path`.
    pub fn warning(path: FieldPath, message: impl Into<String>) -> Self {
        Finding { severity: Severity::Warning, path, message: message.into() }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(self.severity, &self.path, &self.message))
    }
}

/// A manifest that passed the structural checks, as a typed resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A `FlinkDeployment`.
    Deployment(Box<FlinkDeployment>),
    /// A `FlinkSessionJob`.
    SessionJob(Box<FlinkSessionJob>),
}

/// What validation found, and the typed resource when the manifest was well-formed enough to build one.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The typed resource; `None` when the structure is wrong.
    pub resource: Option<Resource>,
    /// Every finding, errors and warnings.
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// What validation may look at besides the manifest itself.
#[derive(Default)]
pub struct Context<'a> {
    /// Session-job targets known to the caller (from the same repository or the live store), by `(namespace, name)`.
    pub deployments: HashMap<(String, String), &'a FlinkDeploymentSpec>,
}

impl<'a> Context<'a> {
    /// A context that knows the given deployments.
    pub fn with_deployments(deployments: impl IntoIterator<Item = &'a FlinkDeployment>) -> Self {
        let deployments = deployments
            .into_iter()
            .map(|d| ((namespace_of(&d.metadata), d.metadata.name.clone().unwrap_or_default()), &d.spec))
            .collect();
        Context { deployments }
    }
}

/// The namespace a resource lives in (`default` when unset, as `kubectl apply` would place it).
pub fn namespace_of(metadata: &kube::api::ObjectMeta) -> String {
    metadata.namespace.clone().unwrap_or_else(|| "default".to_owned())
}

/// Upstream's change rules between the stored version of a resource and a new one (`rules::deployment_change`,
/// `rules::session_job_change`): what may not change after the first deployment. Nothing when either version does
/// not decode (validating the new one reports why).
pub fn validate_change(kind: Kind, previous: &Value, next: &Value) -> Vec<Finding> {
    match kind {
        Kind::FlinkDeployment => match (typed::<FlinkDeployment>(previous), typed::<FlinkDeployment>(next)) {
            (Ok(previous), Ok(next)) => rules::deployment_change(&previous, &next),
            _ => Vec::new(),
        },
        Kind::FlinkSessionJob => match (typed::<FlinkSessionJob>(previous), typed::<FlinkSessionJob>(next)) {
            (Ok(previous), Ok(next)) => rules::session_job_change(&previous, &next),
            _ => Vec::new(),
        },
    }
}

/// Validates one manifest of a known kind: structure first (all problems at once), then the typed rules.
pub fn validate(kind: Kind, manifest: &Value, context: &Context<'_>) -> Outcome {
    let mut findings = schema::check(kind, manifest);
    if let Some(version) = manifest.get("apiVersion").and_then(Value::as_str)
        && version != crate::crd::API_VERSION
    {
        findings.push(Finding::error(
            FieldPath::root().key("apiVersion"),
            format!("{version} is not served; use {}", crate::crd::API_VERSION),
        ));
    }
    if manifest.pointer("/spec/job/upgradeMode").and_then(Value::as_str) == Some("stateful") {
        findings.push(Finding::warning(
            FieldPath::parse("spec.job.upgradeMode"),
            "`stateful` is not an upstream upgrade mode; it is read as `last-state` (write `last-state`)",
        ));
    }
    if manifest.is_object() && manifest.get("spec").is_none_or(Value::is_null) {
        findings.push(Finding::error(FieldPath::root().key("spec"), format!("a {kind} needs a spec")));
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Outcome { resource: None, findings };
    }
    let resource = match kind {
        Kind::FlinkDeployment => typed::<FlinkDeployment>(manifest).map(|d| Resource::Deployment(Box::new(d))),
        Kind::FlinkSessionJob => typed::<FlinkSessionJob>(manifest).map(|j| Resource::SessionJob(Box::new(j))),
    };
    match resource {
        Ok(resource) => {
            match &resource {
                Resource::Deployment(deployment) => findings.extend(rules::deployment(deployment)),
                Resource::SessionJob(job) => findings.extend(rules::session_job(job, context)),
            }
            Outcome { resource: Some(resource), findings }
        }
        Err(finding) => {
            findings.push(finding);
            Outcome { resource: None, findings }
        }
    }
}

/// Deserializes with the failing field's path, for errors the schema cannot express.
fn typed<T: serde::de::DeserializeOwned>(manifest: &Value) -> Result<T, Finding> {
    serde_path_to_error::deserialize(manifest).map_err(|error| {
        let path = FieldPath::from_serde_path(error.path());
        Finding::error(path, error.into_inner().to_string())
    })
}
