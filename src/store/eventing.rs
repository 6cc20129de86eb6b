//! Kubernetes events from what the controllers and sync write: a [`Store`] wrapper that compares each status write
//! with the status before it and publishes one event per lifecycle step, job state change, completed savepoint,
//! scaling decision and error ([`events_between`], pure), plus the events sync asks for ([`Store::publish_event`]).
//! The publisher deduplicates repeats, so an error that recurs every reconcile is not noisy.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use kube::runtime::events::EventType;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{Applied, ObjectRef, Store, StoreError, StoreEvent, StoredResource};
use crate::kubernetes::events::EventPublisher;

/// The parts of a status that events are about, from either kind's status (read as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusSummary {
    /// `lifecycleState`.
    pub lifecycle: Option<String>,
    /// `jobStatus.state`.
    pub job_state: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `jobStatus.savepointInfo.lastSavepoint.location`.
    pub savepoint: Option<String>,
    /// How many entries `autoscaler.scalingHistory` has, and the newest one's report.
    pub scalings: (usize, Option<String>),
}

impl StatusSummary {
    /// The summary of a status serialized as JSON (`Value::Null` when there is none).
    pub fn of(status: &Value) -> Self {
        let text = |pointer: &str| status.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
        let history = status.pointer("/autoscaler/scalingHistory").and_then(Value::as_array);
        let newest = history
            .and_then(|h| h.last())
            .map(|entry| entry.get("report").and_then(Value::as_str).map_or_else(|| entry.to_string(), str::to_owned));
        StatusSummary {
            lifecycle: text("/lifecycleState"),
            job_state: text("/jobStatus/state"),
            error: text("/error").filter(|e| !e.is_empty()),
            savepoint: text("/jobStatus/savepointInfo/lastSavepoint/location"),
            scalings: (history.map_or(0, Vec::len), newest),
        }
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// A Warning rather than Normal.
    pub warning: bool,
    /// Short PascalCase reason.
    pub reason: String,
    /// The readable message.
    pub note: String,
}

impl LifecycleEvent {
    fn normal(reason: &str, note: String) -> Self {
        LifecycleEvent { warning: false, reason: reason.to_owned(), note }
    }

    fn warning(reason: &str, note: String) -> Self {
        LifecycleEvent { warning: true, reason: reason.to_owned(), note }
    }
}

fn shown(value: Option<&String>) -> &str {
    value.map_or("-", String::as_str)
}

/// The events a status change from `before` to `after` is worth.
pub fn events_between(before: &StatusSummary, after: &StatusSummary) -> Vec<LifecycleEvent> {
    let mut events = Vec::new();
    if after.lifecycle != before.lifecycle
        && let Some(state) = &after.lifecycle
    {
        let note = format!("lifecycle {} → {state}", shown(before.lifecycle.as_ref()));
        let reason = lifecycle_reason(state);
        events.push(if matches!(state.as_str(), "FAILED" | "ROLLED_BACK") {
            LifecycleEvent::warning(reason, note)
        } else {
            LifecycleEvent::normal(reason, note)
        });
    }
    if after.job_state != before.job_state
        && let Some(state) = &after.job_state
    {
        let note = format!("job {} → {state}", shown(before.job_state.as_ref()));
        events.push(if matches!(state.as_str(), "FAILED" | "FAILING") {
            LifecycleEvent::warning("JobFailed", note)
        } else {
            LifecycleEvent::normal("JobStatusChanged", note)
        });
    }
    if after.savepoint != before.savepoint
        && let Some(location) = &after.savepoint
    {
        events.push(LifecycleEvent::normal("SavepointCompleted", format!("savepoint {location}")));
    }
    if after.scalings.0 > before.scalings.0
        && let Some(report) = &after.scalings.1
    {
        events.push(LifecycleEvent::normal("ScalingReport", report.clone()));
    }
    match (&before.error, &after.error) {
        (_, Some(error)) if before.error.as_ref() != Some(error) => {
            let reason = if crate::operator::manager::is_manifest_error(error) { "ManifestError" } else { "Error" };
            events.push(LifecycleEvent::warning(reason, error.clone()));
        }
        (Some(_), None) => events.push(LifecycleEvent::normal("Recovered", "the error is over".to_owned())),
        _ => {}
    }
    events
}

/// The event reason of entering a lifecycle state.
fn lifecycle_reason(state: &str) -> &'static str {
    match state {
        "CREATED" => "Created",
        "DEPLOYED" => "Deployed",
        "STABLE" => "Stable",
        "UPGRADING" => "Upgrading",
        "SUSPENDED" => "Suspended",
        "ROLLING_BACK" => "RollingBack",
        "ROLLED_BACK" => "RolledBack",
        "FAILED" => "Failed",
        "DELETING" => "Deleting",
        "DELETED" => "Deleted",
        _ => "LifecycleChanged",
    }
}

/// A store that publishes Kubernetes events about what is written through it. Cheap to clone.
#[derive(Clone)]
pub struct EventingStore<S> {
    inner: S,
    publisher: EventPublisher,
    /// The last status seen per object, so each write is compared with the one before it without a read.
    seen: Arc<Mutex<HashMap<ObjectRef, StatusSummary>>>,
}

impl<S> EventingStore<S> {
    /// Wraps `inner`, publishing through `publisher`.
    pub fn new(inner: S, publisher: EventPublisher) -> Self {
        EventingStore { inner, publisher, seen: Arc::default() }
    }
}

impl<S: Store> EventingStore<S> {
    async fn publish<K: StoredResource>(&self, object: &K, event: &LifecycleEvent) {
        let type_ = if event.warning { EventType::Warning } else { EventType::Normal };
        if let Err(error) = self.publisher.publish(object, type_, &event.reason, &event.note).await {
            tracing::warn!(%error, "cannot publish an event");
        }
    }

    /// The summary before this write: remembered, else the stored object's (one read per object per process).
    async fn before<K: StoredResource>(&self, target: &ObjectRef) -> StatusSummary {
        let remembered = self.seen.lock().unwrap_or_else(PoisonError::into_inner).get(target).cloned();
        if let Some(summary) = remembered {
            return summary;
        }
        match self.inner.get::<K>(&target.namespace, &target.name).await {
            Ok(Some(stored)) => StatusSummary::of(&serde_json::to_value(stored.status()).unwrap_or(Value::Null)),
            _ => StatusSummary::default(),
        }
    }
}

impl<S: Store> Store for EventingStore<S> {
    fn list<K: StoredResource>(&self) -> impl Future<Output = Result<Vec<K>, StoreError>> + Send {
        self.inner.list::<K>()
    }

    fn get<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<K>, StoreError>> + Send {
        self.inner.get::<K>(namespace, name)
    }

    fn apply<K: StoredResource>(
        &self,
        object: &K,
        field_manager: &str,
    ) -> impl Future<Output = Result<K, StoreError>> + Send {
        self.inner.apply(object, field_manager)
    }

    fn apply_reporting<K: StoredResource>(
        &self,
        object: &K,
        field_manager: &str,
    ) -> impl Future<Output = Result<Applied<K>, StoreError>> + Send {
        self.inner.apply_reporting(object, field_manager)
    }

    async fn update_status<K: StoredResource>(&self, object: &K) -> Result<K, StoreError> {
        let target = object.store_ref();
        let before = self.before::<K>(&target).await;
        let written = self.inner.update_status(object).await?;
        let after = StatusSummary::of(&serde_json::to_value(written.status()).unwrap_or(Value::Null));
        for event in events_between(&before, &after) {
            self.publish(&written, &event).await;
        }
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).insert(target, after);
        Ok(written)
    }

    fn add_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> impl Future<Output = Result<K, StoreError>> + Send {
        self.inner.add_finalizer::<K>(namespace, name, finalizer)
    }

    async fn remove_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<Option<K>, StoreError> {
        let removed = self.inner.remove_finalizer::<K>(namespace, name, finalizer).await?;
        if removed.is_none() {
            // Gone: forget it, so the map holds live objects only.
            let target = ObjectRef::new(K::KIND, namespace, name);
            self.seen.lock().unwrap_or_else(PoisonError::into_inner).remove(&target);
        }
        Ok(removed)
    }

    fn delete<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<K>, StoreError>> + Send {
        self.inner.delete::<K>(namespace, name)
    }

    fn unreadable(&self) -> impl Future<Output = Result<Vec<StoreError>, StoreError>> + Send {
        self.inner.unreadable()
    }

    fn watch(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.watch()
    }

    async fn publish_event<K: StoredResource>(&self, object: &K, warning: bool, reason: &str, note: &str) {
        let event = LifecycleEvent { warning, reason: reason.to_owned(), note: note.to_owned() };
        self.publish(object, &event).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn summary(status: Value) -> StatusSummary {
        StatusSummary::of(&status)
    }

    fn reasons(events: &[LifecycleEvent]) -> Vec<&str> {
        events.iter().map(|e| e.reason.as_str()).collect()
    }

    #[test]
    fn an_upgrade_is_a_lifecycle_step_a_job_state_change_and_a_savepoint() {
        let before = summary(json!({"lifecycleState": "STABLE", "jobStatus": {"state": "RUNNING"}}));
        let after = summary(json!({
            "lifecycleState": "UPGRADING",
            "jobStatus": {"state": "FINISHED", "savepointInfo": {"lastSavepoint": {"location": "file:/sp/1"}}}
        }));
        let events = events_between(&before, &after);
        assert_eq!(reasons(&events), ["Upgrading", "JobStatusChanged", "SavepointCompleted"]);
        assert_eq!(events[0].note, "lifecycle STABLE → UPGRADING");
        assert_eq!(events[1].note, "job RUNNING → FINISHED");
        assert_eq!(events[2].note, "savepoint file:/sp/1");
        assert!(events.iter().all(|e| !e.warning));
    }

    #[test]
    fn the_same_status_again_is_no_event() {
        let status = summary(json!({"lifecycleState": "STABLE", "jobStatus": {"state": "RUNNING"}, "error": "x"}));
        assert!(events_between(&status, &status).is_empty());
    }

    #[test]
    fn errors_are_warnings_and_their_end_is_reported() {
        let fine = summary(json!({"lifecycleState": "STABLE"}));
        let failing = summary(json!({"lifecycleState": "FAILED", "error": "the cluster crashed"}));
        let events = events_between(&fine, &failing);
        assert_eq!(reasons(&events), ["Failed", "Error"]);
        assert!(events.iter().all(|e| e.warning));
        assert_eq!(reasons(&events_between(&failing, &fine)), ["Stable", "Recovered"]);
    }

    #[test]
    fn a_new_scaling_decision_is_reported_with_its_text() {
        let before = summary(json!({"autoscaler": {"scalingHistory": [{"report": "a"}]}}));
        let after = summary(json!({"autoscaler": {"scalingHistory": [{"report": "a"}, {"report": "counter 1 → 4"}]}}));
        let events = events_between(&before, &after);
        assert_eq!(reasons(&events), ["ScalingReport"]);
        assert_eq!(events[0].note, "counter 1 → 4");
    }

    #[test]
    fn a_failed_job_is_a_warning() {
        let before = summary(json!({"jobStatus": {"state": "RUNNING"}}));
        let after = summary(json!({"jobStatus": {"state": "FAILED"}}));
        let events = events_between(&before, &after);
        assert_eq!(reasons(&events), ["JobFailed"]);
        assert!(events[0].warning);
    }
}
