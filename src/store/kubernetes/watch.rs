//! The store's watch: one background task per kind and watched scope runs `kube::runtime::watcher` over raw objects
//! and turns what it sees into [`StoreEvent`]s. [`Seen`] (pure) decides `generation_changed`; it keeps one small
//! record per object (generation, deleting, resourceVersion), never the object itself.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::broadcast;

use super::raw;
use crate::crd::Kind;
use crate::store::{ObjectRef, StoreEvent, StoredResource};

/// What the watch last saw of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Last {
    generation: Option<i64>,
    deleting: bool,
    resource_version: Option<String>,
}

/// The objects one watch has seen, to compute `generation_changed` and to find objects deleted while the watch was
/// disconnected (absent from a re-list).
#[derive(Debug, Default)]
pub(super) struct Seen {
    objects: HashMap<ObjectRef, Last>,
    /// During a (re-)list: the objects listed so far.
    relisting: Option<HashSet<ObjectRef>>,
}

impl Seen {
    /// An object was created or changed. `None` when nothing changed since the last sighting (same resourceVersion,
    /// as after a re-list); otherwise the event, with `generation_changed` true for a new object, a new generation
    /// or deletion starting.
    pub(super) fn applied(&mut self, kind: Kind, meta: &ObjectMeta) -> Option<StoreEvent> {
        let object = reference(kind, meta);
        let last = Last {
            generation: meta.generation,
            deleting: meta.deletion_timestamp.is_some(),
            resource_version: meta.resource_version.clone(),
        };
        if let Some(listed) = &mut self.relisting {
            listed.insert(object.clone());
        }
        let previous = self.objects.insert(object.clone(), last.clone());
        let generation_changed = match &previous {
            Some(previous) if previous == &last => return None,
            Some(previous) => previous.generation != last.generation || (!previous.deleting && last.deleting),
            None => true,
        };
        Some(event(object, generation_changed))
    }

    /// An object was removed.
    pub(super) fn deleted(&mut self, kind: Kind, meta: &ObjectMeta) -> StoreEvent {
        let object = reference(kind, meta);
        self.objects.remove(&object);
        event(object, true)
    }

    /// A (re-)list starts: the objects it does not list are gone.
    pub(super) fn relist_started(&mut self) {
        self.relisting = Some(HashSet::new());
    }

    /// The (re-)list is complete: a removal event for every object it did not list.
    pub(super) fn relist_done(&mut self) -> Vec<StoreEvent> {
        let Some(listed) = self.relisting.take() else { return Vec::new() };
        let gone: Vec<ObjectRef> = self.objects.keys().filter(|object| !listed.contains(*object)).cloned().collect();
        let mut events: Vec<StoreEvent> = gone
            .into_iter()
            .map(|object| {
                self.objects.remove(&object);
                event(object, true)
            })
            .collect();
        events.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        events
    }
}

fn reference(kind: Kind, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(kind, crate::validation::namespace_of(meta), meta.name.clone().unwrap_or_default())
}

fn event(object: ObjectRef, generation_changed: bool) -> StoreEvent {
    StoreEvent { kind: object.kind, namespace: object.namespace, name: object.name, generation_changed }
}

/// Watches `api` (one kind, one scope) until the task is aborted, publishing every change on `events`. Watch
/// errors are logged and retried with kube's default backoff; an object that does not decode as `K` is logged and
/// still announced (so its controller reads it and reports `Corrupt`): it never stops the watch.
pub(super) async fn run<K: StoredResource>(api: Api<DynamicObject>, events: broadcast::Sender<StoreEvent>) {
    let mut seen = Seen::default();
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        let published = match item {
            Ok(watcher::Event::Init) => {
                seen.relist_started();
                Vec::new()
            }
            Ok(watcher::Event::InitApply(object) | watcher::Event::Apply(object)) => {
                if let Err(error) = raw::decode::<K>(&object) {
                    tracing::warn!(%error, "watched object does not decode; reported by unreadable()");
                }
                seen.applied(K::KIND, &object.metadata).into_iter().collect()
            }
            Ok(watcher::Event::Delete(object)) => vec![seen.deleted(K::KIND, &object.metadata)],
            Ok(watcher::Event::InitDone) => seen.relist_done(),
            Err(error) => {
                tracing::warn!(kind = %K::KIND, %error, "watch failed; retrying with backoff");
                Vec::new()
            }
        };
        for event in published {
            // No receiver is fine: nobody watches yet.
            let _ = events.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn meta(name: &str, generation: i64, resource_version: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("ns".to_owned()),
            generation: Some(generation),
            resource_version: Some(resource_version.to_owned()),
            ..ObjectMeta::default()
        }
    }

    fn changed(event: Option<StoreEvent>) -> Option<bool> {
        event.map(|event| event.generation_changed)
    }

    #[test]
    fn generation_changed_follows_the_store_contract() {
        let kind = Kind::FlinkDeployment;
        let mut seen = Seen::default();
        assert_eq!(changed(seen.applied(kind, &meta("a", 1, "10"))), Some(true), "creation");
        assert_eq!(changed(seen.applied(kind, &meta("a", 1, "11"))), Some(false), "status write");
        assert_eq!(changed(seen.applied(kind, &meta("a", 1, "11"))), None, "same version again");
        assert_eq!(changed(seen.applied(kind, &meta("a", 2, "12"))), Some(true), "spec change");
        let mut deleting = meta("a", 2, "13");
        deleting.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(changed(seen.applied(kind, &deleting)), Some(true), "deletion starting");
        deleting.resource_version = Some("14".to_owned());
        assert_eq!(changed(seen.applied(kind, &deleting)), Some(false), "finalizer removed while deleting");
        assert!(seen.deleted(kind, &deleting).generation_changed, "removal");
    }

    #[test]
    fn a_relist_reports_objects_deleted_while_disconnected_and_nothing_else() {
        let kind = Kind::FlinkSessionJob;
        let mut seen = Seen::default();
        seen.relist_started();
        seen.applied(kind, &meta("a", 1, "1"));
        seen.applied(kind, &meta("b", 1, "2"));
        assert_eq!(seen.relist_done(), []);
        seen.relist_started();
        assert_eq!(seen.applied(kind, &meta("b", 1, "2")), None, "unchanged objects are not announced again");
        let gone = seen.relist_done();
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].name.as_str(), gone[0].generation_changed), ("a", true));
    }
}
