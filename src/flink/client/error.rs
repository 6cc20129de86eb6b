//! Errors of the Flink REST client: transport failures, HTTP errors carrying Flink's own `errors[]`
//! messages, undecodable bodies, and failed asynchronous operations (savepoints, checkpoints).

use std::time::Duration;

use reqwest::StatusCode;

/// Error of a [`FlinkClient`](super::FlinkClient) call.
#[derive(Debug, thiserror::Error)]
pub enum FlinkClientError {
    /// The request could not be sent or no response arrived (connection refused/reset, DNS, TLS).
    #[error("{method} {url}: connection failed: {source}")]
    Connect {
        /// HTTP method of the failed request.
        method: String,
        /// Full URL of the failed request.
        url: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },
    /// No response within the per-request timeout.
    #[error("{method} {url}: timed out after {timeout:?}")]
    Timeout {
        /// HTTP method of the request.
        method: String,
        /// Full URL of the request.
        url: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// Flink answered with a non-success status. `messages` is Flink's `errors[]` array (its first
    /// entry usually holds the root cause and stack trace), or the raw body if it was not JSON.
    #[error("{method} {url}: HTTP {status}: {}", first_line(messages))]
    Http {
        /// HTTP method of the request.
        method: String,
        /// Full URL of the request.
        url: String,
        /// The HTTP status Flink answered with.
        status: StatusCode,
        /// Flink's `errors[]` entries, or the raw body.
        messages: Vec<String>,
    },
    /// A success status with a body that does not match the expected shape.
    #[error("{method} {url}: cannot decode response: {reason}; body: {body}")]
    Decode {
        /// HTTP method of the request.
        method: String,
        /// Full URL of the request.
        url: String,
        /// Why decoding failed (the serde error).
        reason: String,
        /// The response body, cut to 2000 characters.
        body: String,
    },
    /// An asynchronous operation (savepoint, stop-with-savepoint, checkpoint, disposal) finished
    /// but failed. Flink reports this as status COMPLETED with a `failure-cause`.
    #[error("{operation} {trigger_id} failed: {cause}")]
    OperationFailed {
        /// Kind of operation, e.g. `savepoint` or `checkpoint`.
        operation: &'static str,
        /// The trigger id the operation was polled with.
        trigger_id: String,
        /// Class and message of the root cause, taken from the serialized stack trace.
        cause: String,
    },
    /// Polling an asynchronous operation did not see it finish in time.
    #[error("{operation} {trigger_id} still in progress after {waited:?}")]
    OperationTimeout {
        /// Kind of operation, e.g. `savepoint` or `checkpoint`.
        operation: &'static str,
        /// The trigger id the operation was polled with.
        trigger_id: String,
        /// How long the client polled.
        waited: Duration,
    },
    /// The caller passed something the client cannot send (bad base URL, unreadable jar file).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl FlinkClientError {
    /// Worth retrying later: the JobManager was unreachable, slow, or said so with 502/503/504.
    /// Operation failures and 4xx answers are permanent for the same request.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } => true,
            Self::Http { status, .. } => matches!(
                *status,
                StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
            ),
            Self::Decode { .. }
            | Self::OperationFailed { .. }
            | Self::OperationTimeout { .. }
            | Self::InvalidRequest(_) => false,
        }
    }

    /// The job, jar, trigger id or checkpoint does not exist (any more). Flink answers 404 for most
    /// endpoints, but some job endpoints (`/jobs/:id/status` in 2.3) wrap the lookup failure in a 500
    /// whose message names `FlinkJobNotFoundException`; both count.
    pub fn is_not_found(&self) -> bool {
        match self.status() {
            Some(StatusCode::NOT_FOUND) => true,
            Some(StatusCode::INTERNAL_SERVER_ERROR) => self.mentions("FlinkJobNotFoundException"),
            _ => false,
        }
    }

    /// The HTTP status, when Flink answered with an error status.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Flink's own error messages (`errors[]`), empty for errors that are not HTTP answers.
    pub fn flink_messages(&self) -> &[String] {
        match self {
            Self::Http { messages, .. } => messages,
            _ => &[],
        }
    }

    /// True when any Flink message mentions `needle` (e.g. an exception class name).
    pub fn mentions(&self, needle: &str) -> bool {
        self.flink_messages().iter().any(|m| m.contains(needle))
    }
}

fn first_line(messages: &[String]) -> String {
    // The first message is often a full Java stack trace; its first line holds the exception. A
    // second message, when present, is the human-readable one Flink adds (e.g. "Could not execute
    // application."). Keep both short.
    let mut parts: Vec<&str> = messages.iter().filter_map(|m| m.lines().next()).take(2).collect();
    if parts.is_empty() {
        parts.push("(no error message)");
    }
    parts.join(" | ")
}
