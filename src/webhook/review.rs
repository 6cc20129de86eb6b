//! The admission decision: an `admission.k8s.io/v1` `AdmissionReview` in, the answer out, with the validation
//! library's findings as the message. Pure (no IO); the HTTP and TLS around it live in `server`.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use crate::crd::{FlinkDeployment, Kind};
use crate::manifests::load::classify;
use crate::manifests::path::FieldPath;
use crate::validation::{self, Context, Finding, Severity};

/// How a review was answered, for the request counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed (possibly with warnings).
    Allowed,
    /// Denied because validation found errors.
    Denied,
    /// The review itself could not be read.
    Invalid,
}

impl Verdict {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Invalid => "invalid",
        }
    }
}

/// Answers one `AdmissionReview` body. Never fails: a body that is not a review is answered as an invalid
/// review (denied, with the reason and the JSON path that failed), so the API server shows why.
///
/// The object is taken out of the review as raw JSON before the envelope is decoded, so an object that does not
/// fit the Flink types reaches the validation library, which reports the field path, rather than failing the
/// decoding of the whole review.
///
/// `session_cluster` is the `FlinkDeployment` a `FlinkSessionJob` names ([`session_target`]), when it exists: the job
/// is then checked against it (a session cluster, its configuration under the job's). On UPDATE the old object is
/// compared with the new one by upstream's change rules (`deploymentName` is immutable, no session ↔ application
/// switch, no mode change).
pub fn answer(body: &[u8], session_cluster: Option<&FlinkDeployment>) -> (AdmissionReview<DynamicObject>, Verdict) {
    match serde_json::from_slice(body) {
        Ok(raw) => answer_parsed(raw, session_cluster),
        Err(error) => invalid(None, format!("the body is not JSON: {error}")),
    }
}

/// [`answer`] for a body already parsed as JSON (the server parses it once, for [`session_target`] and this).
pub fn answer_parsed(
    mut raw: Value,
    session_cluster: Option<&FlinkDeployment>,
) -> (AdmissionReview<DynamicObject>, Verdict) {
    let uid = raw.pointer("/request/uid").and_then(Value::as_str).map(str::to_owned);
    let object = raw.pointer_mut("/request/object").map(Value::take).filter(|o| !o.is_null());
    // Both objects are taken out before the envelope is decoded, so neither can fail its decoding.
    let old_object = raw.pointer_mut("/request/oldObject").map(Value::take).filter(|o| !o.is_null());
    let review: AdmissionReview<DynamicObject> = match serde_path_to_error::deserialize(raw) {
        Ok(review) => review,
        Err(error) => {
            let path = FieldPath::from_serde_path(error.path());
            return invalid(uid, format!("not an AdmissionReview: {path}: {}", error.into_inner()));
        }
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(_) => return invalid(uid, "the AdmissionReview has no request".to_owned()),
    };
    let response = decide(&request, object, old_object.as_ref(), session_cluster);
    let verdict = if response.allowed { Verdict::Allowed } else { Verdict::Denied };
    (response.into_review(), verdict)
}

fn invalid(uid: Option<String>, reason: String) -> (AdmissionReview<DynamicObject>, Verdict) {
    let mut response = AdmissionResponse::invalid(reason);
    response.uid = uid.unwrap_or_default();
    (response.into_review(), Verdict::Invalid)
}

/// Validates the object of a CREATE or UPDATE; DELETE and CONNECT are allowed (nothing to validate). A dry run is
/// answered like a real request, so `kubectl apply --dry-run=server` shows the same messages.
fn decide(
    request: &AdmissionRequest<DynamicObject>,
    object: Option<Value>,
    old_object: Option<&Value>,
    session_cluster: Option<&FlinkDeployment>,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    match request.operation {
        Operation::Create | Operation::Update => {}
        Operation::Delete | Operation::Connect => return response,
    }
    let Some(object) = object else {
        return response.deny(format!("{} {}: the request carries no object", request.kind.kind, subject(request)));
    };
    let kind = match classify(&object) {
        Ok(kind) => kind,
        // A kind flinkops does not validate reaches it only through a misconfigured ValidatingWebhookConfiguration.
        // Allowing (with a warning naming the cause) keeps that mistake from blocking unrelated resources
        // cluster-wide; denying would protect nothing, since flinkops has no rules for such objects.
        Err(reason) => {
            let mut response = response;
            response.warnings = Some(vec![format!("{} {}: skipped: {reason}", request.kind.kind, subject(request))]);
            return response;
        }
    };
    let context = Context::with_deployments(session_cluster.filter(|_| kind == Kind::FlinkSessionJob));
    let mut findings = validation::validate(kind, &object, &context).findings;
    if request.operation == Operation::Update
        && let Some(old_object) = old_object
    {
        findings.extend(validation::validate_change(kind, old_object, &object));
    }
    respond(response, kind, &label_of(&object, request), &findings)
}

/// `(namespace, deploymentName)` of the `FlinkSessionJob` a CREATE or UPDATE review (parsed JSON) carries: the
/// session cluster to look up before [`answer_parsed`]. `None` for anything else.
pub fn session_target(raw: &Value) -> Option<(String, String)> {
    let request = raw.get("request")?;
    let object = request.get("object")?;
    let operation = request.get("operation").and_then(Value::as_str)?;
    if object.get("kind").and_then(Value::as_str) != Some("FlinkSessionJob")
        || !matches!(operation, "CREATE" | "UPDATE")
    {
        return None;
    }
    let name = object.pointer("/spec/deploymentName").and_then(Value::as_str).filter(|n| !n.is_empty())?;
    let namespace = object
        .pointer("/metadata/namespace")
        .or_else(|| request.get("namespace"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    Some((namespace.to_owned(), name.to_owned()))
}

/// Turns findings into the response: errors deny (one line each), warnings are passed on.
fn respond(mut response: AdmissionResponse, kind: Kind, subject: &str, findings: &[Finding]) -> AdmissionResponse {
    let line = |finding: &Finding| format!("{kind} {subject}: {finding}");
    let warnings: Vec<String> = findings.iter().filter(|f| f.severity == Severity::Warning).map(line).collect();
    let errors: Vec<String> = findings.iter().filter(|f| f.severity == Severity::Error).map(line).collect();
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    if errors.is_empty() { response } else { response.deny(errors.join("\n")) }
}

/// `namespace/name` of the object, falling back to the request's (a CREATE with `generateName` has no name yet).
fn label_of(object: &Value, request: &AdmissionRequest<DynamicObject>) -> String {
    let metadata = object.get("metadata");
    let field = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_str).filter(|v| !v.is_empty());
    let namespace = field("namespace").or(request.namespace.as_deref()).unwrap_or("default");
    let name = field("name").or(Some(request.name.as_str()).filter(|n| !n.is_empty()));
    let name = name.or(field("generateName")).unwrap_or("(unnamed)");
    format!("{namespace}/{name}")
}

fn subject(request: &AdmissionRequest<DynamicObject>) -> String {
    format!("{}/{}", request.namespace.as_deref().unwrap_or("default"), request.name)
}
