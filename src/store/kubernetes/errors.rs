//! How a failed Kubernetes API call becomes a [`StoreError`]: by HTTP status code, so the controllers' retry policy
//! (`is_transient`) is the same on both stores. Decoding errors are in `raw.rs`.

use crate::store::{ObjectRef, StoreError};

/// The [`StoreError`] for a failed call about `object`: 404 → `NotFound`, 409 → `Conflict`, 400/422 → `Invalid`,
/// 401/403 → `Invalid` (missing RBAC is a configuration error: retrying does not help), 429, 5xx, timeouts and
/// connection errors → `Unavailable`.
pub(super) fn from_kube(error: kube::Error, object: &ObjectRef) -> StoreError {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.message.is_empty() { status.reason.clone() } else { status.message.clone() };
            match status.code {
                404 => StoreError::NotFound { object: object.clone() },
                409 => StoreError::Conflict { object: object.clone(), reason },
                401 | 403 => StoreError::Invalid {
                    object: object.to_string(),
                    reason: format!("{} {reason} (check the operator's RBAC)", status.code),
                },
                429 | 500..=599 => StoreError::Unavailable {
                    reason: format!("{object}: API server answered {}: {reason}", status.code),
                },
                400..=499 => StoreError::Invalid { object: object.to_string(), reason },
                code => StoreError::Unavailable { reason: format!("{object}: unexpected status {code}: {reason}") },
            }
        }
        kube::Error::SerdeError(error) => StoreError::Corrupt {
            object: Some(object.clone()),
            location: object.to_string(),
            reason: error.to_string(),
        },
        kube::Error::BuildRequest(error) => {
            StoreError::Invalid { object: object.to_string(), reason: error.to_string() }
        }
        // Hyper and tower errors (connection refused, reset, timeouts), TLS, auth refresh and the rest: the API
        // server could not be reached or did not answer; the same call may succeed later.
        other => StoreError::Unavailable { reason: format!("{object}: {other}") },
    }
}

/// As [`from_kube`], for a JSON patch that starts with `test` operations: a failed `test` (422) means the object
/// changed since it was read, so it is a `Conflict` (re-read and retry), as in kube-runtime's finalizer helper.
pub(super) fn from_kube_tested_patch(error: kube::Error, object: &ObjectRef) -> StoreError {
    match error {
        kube::Error::Api(status) if status.code == 422 => StoreError::Conflict {
            object: object.clone(),
            reason: format!("the object changed since it was read: {}", status.message),
        },
        other => from_kube(other, object),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Kind;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("boom", "Reason").with_code(code).boxed())
    }

    #[test]
    fn status_codes_map_to_the_store_errors_the_contract_names() {
        let object = ObjectRef::new(Kind::FlinkDeployment, "ns", "job");
        let cases: &[(u16, &str, bool)] = &[
            (404, "NotFound", false),
            (409, "Conflict", true),
            (400, "Invalid", false),
            (422, "Invalid", false),
            (403, "Invalid", false),
            (429, "StoreUnavailable", true),
            (500, "StoreUnavailable", true),
            (503, "StoreUnavailable", true),
        ];
        for (code, category, transient) in cases {
            let error = from_kube(api_error(*code), &object);
            assert_eq!((error.category(), error.is_transient()), (*category, *transient), "{code}: {error}");
        }
    }

    #[test]
    fn a_failed_test_operation_is_a_conflict() {
        let object = ObjectRef::new(Kind::FlinkSessionJob, "ns", "job");
        assert!(from_kube_tested_patch(api_error(422), &object).is_conflict());
        assert!(from_kube_tested_patch(api_error(404), &object).is_not_found());
    }

    #[test]
    fn connection_errors_are_unavailable() {
        let object = ObjectRef::new(Kind::FlinkDeployment, "ns", "job");
        let error = from_kube(kube::Error::Service("connection refused".into()), &object);
        assert_eq!(error.category(), "StoreUnavailable");
        assert!(error.is_transient());
    }
}
