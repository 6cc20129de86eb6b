//! `EventPublisher`: Kubernetes events (`events.k8s.io/v1`) about FlinkDeployments and FlinkSessionJobs. Repeats
//! of the same event (object, reason, note) within a window are not re-sent ([`Dedup`], pure), so an error that
//! recurs every reconcile shows once per window instead of once per reconcile.
//!
//! Events are created directly rather than through kube's `Recorder`: the recorder folds every event of the same
//! object and reason into one series that keeps the first note, so "revision r3 applied" would show as
//! "revision r1 applied (x2)". Here an event with a new note is a new event.
//!
//! # RBAC
//! `create` and `patch` on `events` in API group `events.k8s.io`, in every watched namespace.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::events::{EventType, Reporter};

use crate::store::{ObjectRef, StoredResource};

/// How long an identical event is suppressed by default: long enough that a reconcile loop retrying an error
/// (every few seconds to minutes) publishes it a handful of times an hour, short enough that it stays visible
/// within the hour `kubectl describe` and most event exporters keep.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The longest reason the API accepts (128 characters; cut in bytes, which is never longer).
const MAX_REASON: usize = 128;
/// The longest note the API accepts (bytes).
const MAX_NOTE: usize = 1024;

/// What [`EventPublisher::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The event was sent to the API server.
    Sent,
    /// The same event was sent within the window; nothing was sent.
    Suppressed,
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The API server refused the event or could not be reached. The event is not marked as sent, so the next
    /// attempt publishes it.
    #[error("cannot publish event {reason} about {object}: {source}")]
    Publish {
        /// The object the event is about.
        object: ObjectRef,
        /// The event's reason.
        reason: String,
        /// The API error.
        source: kube::Error,
    },
}

/// Publishes events about stored objects, deduplicated. Cheap to clone; clones share the recorder and the
/// deduplication state.
#[derive(Clone)]
pub struct EventPublisher {
    client: Client,
    reporter: Reporter,
    dedup: Arc<Mutex<Dedup>>,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher").finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher reporting as `reporter` (`Reporter { controller: "flinkops", instance: <pod name> }`), with the
    /// [`DEFAULT_WINDOW`].
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self::with_window(client, reporter, DEFAULT_WINDOW)
    }

    /// A publisher that suppresses repeats for `window`.
    pub fn with_window(client: Client, reporter: Reporter, window: Duration) -> Self {
        EventPublisher { client, reporter, dedup: Arc::new(Mutex::new(Dedup::new(window))) }
    }

    /// Publishes an event about `object`: `type_` Normal or Warning, `reason` a short PascalCase word (also the
    /// event's action; e.g. a `StoreError::category()`), `note` the human-readable message. The reason is cut to
    /// 128 bytes and the note to 1 kB, the API's limits.
    ///
    /// # Idempotence
    /// The same object, reason and note again within the window is [`Published::Suppressed`] and sends nothing.
    ///
    /// # Errors
    /// [`EventError::Publish`] when the API call fails (the event then counts as not sent).
    ///
    /// # RBAC
    /// `create`, `patch` on `events.k8s.io/events`.
    pub async fn publish<K: StoredResource>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        note: &str,
    ) -> Result<Published, EventError> {
        let target = object.store_ref();
        let (reason, note) = (truncate(reason, MAX_REASON), truncate(note, MAX_NOTE));
        let key = Dedup::key(&target, reason, note);
        if !self.with_dedup(|dedup| dedup.should_publish(key.clone(), Instant::now())) {
            tracing::debug!(object = %target, reason, "event suppressed: sent within the window");
            return Ok(Published::Suppressed);
        }
        let event = self.event(object, type_, reason, note);
        let events: Api<Event> = Api::namespaced(self.client.clone(), &target.namespace);
        match events.create(&PostParams::default(), &event).await {
            Ok(_) => Ok(Published::Sent),
            Err(source) => {
                self.with_dedup(|dedup| dedup.forget(&key));
                Err(EventError::Publish { object: target, reason: reason.to_owned(), source })
            }
        }
    }

    /// The `events.k8s.io/v1` Event: named like kubectl's (`<object>.<hex nanoseconds>`), about `object`,
    /// reported by this publisher's controller and instance.
    fn event<K: StoredResource>(&self, object: &K, type_: EventType, reason: &str, note: &str) -> Event {
        let now = k8s_openapi::jiff::Timestamp::now();
        let regarding = object.object_ref(&());
        let name = regarding.name.clone().unwrap_or_else(|| self.reporter.controller.clone());
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(reason.to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(note.to_owned()).filter(|note| !note.is_empty()),
            type_: Some(match type_ {
                EventType::Normal => "Normal".to_owned(),
                EventType::Warning => "Warning".to_owned(),
            }),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter.instance.clone().unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..Event::default()
        }
    }

    fn with_dedup<T>(&self, f: impl FnOnce(&mut Dedup) -> T) -> T {
        // A panic while holding the lock leaves the map consistent (every operation is one insert or remove).
        let mut dedup = self.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut dedup)
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Which event an entry stands for: the object, the reason and a hash of the note (notes can be long).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    object: ObjectRef,
    reason: String,
    note_hash: u64,
}

/// The pure core of deduplication: remembers when each event was last sent and says whether a new one should be.
/// Time comes in as an argument.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    sent: HashMap<EventKey, Instant>,
}

impl Dedup {
    /// Suppresses repeats for `window`.
    pub fn new(window: Duration) -> Self {
        Dedup { window, sent: HashMap::new() }
    }

    /// The key of an event.
    pub fn key(object: &ObjectRef, reason: &str, note: &str) -> EventKey {
        let mut hasher = DefaultHasher::new();
        note.hash(&mut hasher);
        EventKey { object: object.clone(), reason: reason.to_owned(), note_hash: hasher.finish() }
    }

    /// Whether to send the event `key` at `now`: yes unless it was sent less than the window ago. A yes records it
    /// as sent at `now`; a suppressed repeat does not extend the window, so an event that keeps recurring is sent
    /// again once per window. Entries older than the window are dropped, so memory follows recent events only.
    pub fn should_publish(&mut self, key: EventKey, now: Instant) -> bool {
        let window = self.window;
        self.sent.retain(|_, sent| now.saturating_duration_since(*sent) < window);
        if self.sent.contains_key(&key) {
            return false;
        }
        self.sent.insert(key, now);
        true
    }

    /// Forgets that `key` was sent (its publication failed), so the next attempt sends it.
    pub fn forget(&mut self, key: &EventKey) {
        self.sent.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    use super::*;
    use crate::crd::{FlinkDeployment, Kind};

    fn job(name: &str) -> ObjectRef {
        ObjectRef::new(Kind::FlinkDeployment, "flink", name)
    }

    #[test]
    fn dedup_should_suppress_repeats_within_the_window_and_nothing_else() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut dedup = Dedup::new(10 * minute);
        let failing = || Dedup::key(&job("a"), "SavepointFailed", "timeout");
        let cases = [
            ("first_occurrence_is_sent", failing(), 0, true),
            ("repeat_within_window_is_suppressed", failing(), 1, false),
            ("another_note_is_sent", Dedup::key(&job("a"), "SavepointFailed", "disk full"), 2, true),
            ("another_reason_is_sent", Dedup::key(&job("a"), "Deployed", "timeout"), 3, true),
            ("another_object_is_sent", Dedup::key(&job("b"), "SavepointFailed", "timeout"), 4, true),
            ("still_suppressed_just_before_the_window_ends", failing(), 9, false),
            ("sent_again_once_the_window_has_passed", failing(), 10, true),
            ("and_suppressed_again_after_that", failing(), 15, false),
        ];
        for (name, key, minutes, expected) in cases {
            assert_eq!(dedup.should_publish(key, start + minutes * minute), expected, "{name}");
        }
    }

    #[test]
    fn dedup_should_send_again_after_a_failed_publication() {
        let now = Instant::now();
        let mut dedup = Dedup::new(DEFAULT_WINDOW);
        let key = Dedup::key(&job("a"), "Conflict", "stale");
        assert!(dedup.should_publish(key.clone(), now));
        dedup.forget(&key);
        assert!(dedup.should_publish(key, now));
    }

    #[test]
    fn dedup_should_drop_entries_older_than_the_window() {
        let start = Instant::now();
        let mut dedup = Dedup::new(Duration::from_secs(60));
        for name in ["a", "b", "c"] {
            dedup.should_publish(Dedup::key(&job(name), "Deployed", ""), start);
        }
        dedup.should_publish(Dedup::key(&job("d"), "Deployed", ""), start + Duration::from_secs(61));
        assert_eq!(dedup.sent.len(), 1);
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééé", 3), "é");
    }

    async fn bounded<T>(future: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), future).await.expect("scenario timed out")
    }

    #[tokio::test]
    async fn a_repeated_error_is_sent_once_per_window() {
        let (service, mut api) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let publisher = EventPublisher::new(
            Client::new(service, "default"),
            Reporter { controller: "flinkops".into(), instance: Some("flinkops-0".into()) },
        );
        let object: FlinkDeployment = serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
            "metadata": {"name": "wordcount", "namespace": "flink", "uid": "u-1"}, "spec": {}
        }))
        .expect("object");
        let publish = || publisher.publish(&object, EventType::Warning, "SavepointFailed", "timed out after 60s");
        let (first, request) = bounded(async {
            tokio::join!(publish(), async {
                let (request, send) = api.next_request().await.expect("a request");
                let (parts, body) = request.into_parts();
                let body: serde_json::Value =
                    serde_json::from_slice(&body.collect_bytes().await.expect("body")).expect("JSON");
                let created = serde_json::to_vec(&body).expect("JSON");
                send.send_response(Response::builder().status(201).body(Body::from(created)).expect("201"));
                (parts, body)
            })
        })
        .await;
        assert_eq!(first.expect("sent"), Published::Sent);
        let (parts, body) = request;
        assert_eq!(
            (parts.method.as_str(), parts.uri.path()),
            ("POST", "/apis/events.k8s.io/v1/namespaces/flink/events")
        );
        assert_eq!(body["reason"], "SavepointFailed");
        assert_eq!(body["type"], "Warning");
        assert_eq!(body["regarding"]["name"], "wordcount");
        // The repeat sends no request at all (one would never be answered and the call would time out).
        assert_eq!(bounded(publish()).await.expect("suppressed"), Published::Suppressed);
    }
}
