//! `LocalStore`: the embedded [`Store`] of `flinkops run --local` and of most tests. Objects live in memory and,
//! unless it is [`LocalStore::in_memory`], as one JSON file each under the state directory (layout and crash-safe
//! writes in `persist.rs`), loaded again by [`LocalStore::open`]. Field-manager bookkeeping is in `managed.rs`.
//!
//! Writers of one object are serialized by a per-object lock; readers never wait for a disk write. A write is
//! persisted, then published in memory, then announced on the watch channel, all in one blocking task that runs to
//! completion even if the caller's future is dropped, so memory, disk and events never disagree.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedMutexGuard, broadcast};

use crate::crd::{FlinkDeployment, FlinkSessionJob, Kind};
use crate::manifests::path::FieldPath;

use super::persist::{self, Found, Layout};
use super::{ObjectRef, Store, StoreError, StoreEvent, StoredResource, managed};

/// How many events a watcher may fall behind before it gets `Lagged` and must re-list.
const EVENT_CAPACITY: usize = 4096;

/// An object in memory: a `K` behind `dyn Any` (its kind is part of the key), or a file that did not decode.
enum Slot {
    Ready(Arc<dyn Any + Send + Sync>),
    Corrupt { location: String, reason: String },
}

struct Inner {
    layout: Option<Layout>,
    state_dir: Option<PathBuf>,
    objects: Mutex<BTreeMap<ObjectRef, Slot>>,
    /// Files found at startup that name no resource (location, reason).
    stray: Vec<(String, String)>,
    writers: Mutex<HashMap<ObjectRef, Arc<tokio::sync::Mutex<()>>>>,
    revision: AtomicU64,
    events: broadcast::Sender<StoreEvent>,
    /// Bounds the disk writes in flight. Each runs on a blocking thread; unbounded, a burst of writes from 1,000
    /// controllers grew tokio's blocking pool to hundreds of threads (their stacks and allocator arenas).
    disk_writes: Arc<tokio::sync::Semaphore>,
}

/// Disk writes in flight at most (each an fsync'd atomic replace of one file).
const CONCURRENT_DISK_WRITES: usize = 4;

/// The local [`Store`]: in memory, optionally persisted under a state directory as
/// `<state-dir>/resources/<kind-plural>/<namespace>/<name>.json`. Cheap to clone; clones share the same objects.
///
/// One process owns a state directory at a time; two processes writing the same directory are not coordinated.
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStore")
            .field("state_dir", &self.inner.state_dir)
            .field("objects", &self.objects().len())
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// A store that keeps everything in memory and forgets it when dropped.
    pub fn in_memory() -> Self {
        LocalStore::with(None, None, BTreeMap::new(), Vec::new(), 0)
    }

    /// Opens (creating it if needed) the store persisted under `state_dir`, loading every resource file in it with
    /// its generation, resourceVersion, status and finalizers. A file that cannot be read or decoded is logged,
    /// reported by [`Store::unreadable`] and fails every call on that object; the others load normally. Temporary
    /// files left by an interrupted write are removed (the file they were replacing is intact).
    ///
    /// Blocks while it reads the directory; call it at startup.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the `resources` directory cannot be created or listed.
    pub fn open(state_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::load(state_dir.as_ref(), true)
    }

    /// Opens the store to read it while another process (a running `flinkops run`) owns it: temporary files are
    /// left alone, as they may be a write in progress. For `status` and `drift`; do not write through it.
    ///
    /// # Errors
    /// As [`LocalStore::open`].
    pub fn open_for_reading(state_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::load(state_dir.as_ref(), false)
    }

    fn load(state_dir: &Path, owner: bool) -> Result<Self, StoreError> {
        let layout = Layout::new(state_dir);
        let (found, problems) = layout.scan(owner)?;
        let mut objects = BTreeMap::new();
        let mut stray = Vec::new();
        let mut revision = 0;
        for problem in problems {
            tracing::error!(error = %problem, "cannot load a stored resource");
            match problem {
                StoreError::Corrupt { object: Some(object), location, reason } => {
                    objects.insert(object, Slot::Corrupt { location, reason });
                }
                StoreError::Corrupt { object: None, location, reason } => stray.push((location, reason)),
                other => stray.push((state_dir.display().to_string(), other.to_string())),
            }
        }
        for file in found {
            match decode(&file) {
                Ok((slot, resource_version)) => {
                    revision = revision.max(resource_version);
                    objects.insert(file.object, slot);
                }
                Err(error) => {
                    tracing::error!(object = %file.object, error = %error, "cannot load a stored resource");
                    let reason = match error {
                        StoreError::Corrupt { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    let location = file.path.display().to_string();
                    objects.insert(file.object, Slot::Corrupt { location, reason });
                }
            }
        }
        tracing::info!(state_dir = %state_dir.display(), resources = objects.len(), "opened the local store");
        Ok(LocalStore::with(Some(layout), Some(state_dir.to_path_buf()), objects, stray, revision))
    }

    /// The state directory, or `None` for an in-memory store.
    pub fn state_dir(&self) -> Option<&Path> {
        self.inner.state_dir.as_deref()
    }

    fn with(
        layout: Option<Layout>,
        state_dir: Option<PathBuf>,
        objects: BTreeMap<ObjectRef, Slot>,
        stray: Vec<(String, String)>,
        revision: u64,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        LocalStore {
            inner: Arc::new(Inner {
                layout,
                state_dir,
                objects: Mutex::new(objects),
                stray,
                writers: Mutex::new(HashMap::new()),
                revision: AtomicU64::new(revision),
                events,
                disk_writes: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DISK_WRITES)),
            }),
        }
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<ObjectRef, Slot>> {
        // The map is only changed by single inserts and removes, so a panic elsewhere cannot leave it half-written.
        self.inner.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored object, decoded as `K`.
    fn read<K: StoredResource>(&self, target: &ObjectRef) -> Result<Option<K>, StoreError> {
        match self.objects().get(target) {
            None => Ok(None),
            Some(Slot::Ready(object)) => match object.downcast_ref::<K>() {
                Some(object) => Ok(Some(object.clone())),
                None => Err(StoreError::Corrupt {
                    object: Some(target.clone()),
                    location: target.to_string(),
                    reason: "held in memory as another kind".to_owned(),
                }),
            },
            Some(Slot::Corrupt { location, reason }) => Err(StoreError::Corrupt {
                object: Some(target.clone()),
                location: location.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Waits until no one else writes `target`.
    async fn lock(&self, target: &ObjectRef) -> OwnedMutexGuard<()> {
        let lock = {
            let mut writers = self.inner.writers.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(writers.entry(target.clone()).or_default())
        };
        lock.lock_owned().await
    }

    fn next_revision(&self) -> String {
        (self.inner.revision.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }

    /// Makes `next` (or, for `None`, the object's removal) durable, then visible, then announced; releases `guard`.
    async fn commit<K: StoredResource>(
        &self,
        guard: OwnedMutexGuard<()>,
        target: &ObjectRef,
        next: Option<K>,
        generation_changed: bool,
    ) -> Result<(), StoreError> {
        let bytes = match &next {
            Some(object) => {
                let mut bytes = serde_json::to_vec_pretty(object)
                    .map_err(|source| StoreError::Encode { object: target.clone(), source })?;
                bytes.push(b'\n');
                Some(bytes)
            }
            None => None,
        };
        let store = self.clone();
        let target = target.clone();
        let path = self.inner.layout.as_ref().map(|layout| layout.file(&target));
        let task = move || {
            if let Some(path) = &path {
                match &bytes {
                    Some(bytes) => persist::write_atomic(path, bytes)?,
                    None => persist::remove(path)?,
                }
            }
            store.publish(target, next, generation_changed);
            drop(guard);
            Ok(())
        };
        if self.inner.layout.is_none() {
            return task();
        }
        let state_dir = self.inner.state_dir.clone().unwrap_or_default();
        // The permit lives as long as the blocking task, even if this future is dropped meanwhile.
        let permit = self.inner.disk_writes.clone().acquire_owned().await;
        let task = move || {
            let _permit = permit;
            task()
        };
        // A blocking task runs to completion even if this future is dropped, so the write is never half-published.
        tokio::task::spawn_blocking(task)
            .await
            .map_err(|error| StoreError::Io { path: state_dir, source: std::io::Error::other(error) })?
    }

    fn publish<K: StoredResource>(&self, target: ObjectRef, next: Option<K>, generation_changed: bool) {
        let resource_version = next.as_ref().and_then(|object| object.meta().resource_version.clone());
        let generation = next.as_ref().and_then(|object| object.meta().generation);
        {
            let mut objects = self.objects();
            match next {
                Some(object) => objects.insert(target.clone(), Slot::Ready(Arc::new(object))),
                None => objects.remove(&target),
            };
        }
        tracing::debug!(
            object = %target,
            resource_version = resource_version.as_deref().unwrap_or("(removed)"),
            generation = generation.unwrap_or(0),
            generation_changed,
            "stored"
        );
        let event =
            StoreEvent { kind: target.kind, namespace: target.namespace, name: target.name, generation_changed };
        // No receiver is fine: nobody watches yet.
        let _ = self.inner.events.send(event);
    }
}

/// The reference named by `namespace` and `name`, checked.
pub(super) fn target<K: StoredResource>(namespace: &str, name: &str) -> Result<ObjectRef, StoreError> {
    let target = ObjectRef::new(K::KIND, namespace, name);
    persist::check_ref(&target).map_err(|reason| StoreError::Invalid { object: target.to_string(), reason })?;
    Ok(target)
}

/// The reference of `object`, checked (a missing name is invalid; a missing namespace is `default`).
pub(super) fn target_of<K: StoredResource>(object: &K) -> Result<ObjectRef, StoreError> {
    let target = ObjectRef::of(object);
    if target.name.is_empty() {
        return Err(StoreError::Invalid {
            object: format!("{}/{}/<unnamed>", target.kind, target.namespace),
            reason: "metadata.name is missing".to_owned(),
        });
    }
    persist::check_ref(&target).map_err(|reason| StoreError::Invalid { object: target.to_string(), reason })?;
    Ok(target)
}

/// Optimistic concurrency: a `resourceVersion` or `uid` the caller sends must be the stored one.
pub(super) fn check_preconditions(
    target: &ObjectRef,
    given: &ObjectMeta,
    stored: Option<&ObjectMeta>,
) -> Result<(), StoreError> {
    let conflict = |reason: String| Err(StoreError::Conflict { object: target.clone(), reason });
    for (field, given, stored) in [
        ("resourceVersion", &given.resource_version, stored.map(|meta| &meta.resource_version)),
        ("uid", &given.uid, stored.map(|meta| &meta.uid)),
    ] {
        let Some(given) = given.as_deref().filter(|value| !value.is_empty()) else { continue };
        match stored {
            None => return conflict(format!("{field} {given} was given but the object no longer exists")),
            Some(stored) if stored.as_deref() != Some(given) => {
                let stored = stored.as_deref().unwrap_or("(none)");
                return conflict(format!("{field} {given} is not the stored {stored}; re-read and retry"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub(super) fn to_json<T: serde::Serialize>(target: &ObjectRef, value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|source| StoreError::Encode { object: target.clone(), source })
}

/// An empty map is the same as no map (what the API server returns).
fn non_empty<V>(map: &Option<BTreeMap<String, V>>) -> Option<BTreeMap<String, V>>
where
    V: Clone,
{
    map.as_ref().filter(|map| !map.is_empty()).cloned()
}

/// Now, to the second (what `metav1.Time` keeps), so an object reads back from disk exactly as it was written.
fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// A random RFC 4122 version 4 UUID, from the clock, the process, a counter and the std hasher's random keys.
fn new_uid(target: &ObjectRef) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = Sha256::new();
    hasher.update(Timestamp::now().as_nanosecond().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(count.to_le_bytes());
    hasher.update(RandomState::new().hash_one(count).to_le_bytes());
    hasher.update(target.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Decodes one file into its slot and its resourceVersion (0 when missing or not a number).
fn decode(file: &Found) -> Result<(Slot, u64), StoreError> {
    fn ready<K: StoredResource>(object: K) -> (Slot, u64) {
        let revision = object.meta().resource_version.as_deref().and_then(|rv| rv.parse().ok()).unwrap_or(0);
        (Slot::Ready(Arc::new(object)), revision)
    }
    match file.object.kind {
        Kind::FlinkDeployment => decode_as::<FlinkDeployment>(file).map(ready),
        Kind::FlinkSessionJob => decode_as::<FlinkSessionJob>(file).map(ready),
    }
}

/// Decodes a stored object's JSON; the error names the offending field's path
/// (``invalid type: integer `5`, expected a string at spec.image``). Both stores report corrupt objects this way.
pub(super) fn decode_value<K: StoredResource>(value: serde_json::Value) -> Result<K, String> {
    serde_path_to_error::deserialize(value)
        .map_err(|error| format!("{} at {}", error.inner(), FieldPath::from_serde_path(error.path())))
}

fn decode_as<K: StoredResource>(file: &Found) -> Result<K, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        object: Some(file.object.clone()),
        location: file.path.display().to_string(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_slice(&file.bytes).map_err(|error| corrupt(error.to_string()))?;
    let kind = value.get("kind").and_then(serde_json::Value::as_str);
    if kind != Some(K::KIND.as_str()) {
        return Err(corrupt(format!("kind is {kind:?}, expected {:?}", K::KIND.as_str())));
    }
    let object: K = decode_value(value).map_err(corrupt)?;
    let named = ObjectRef::of(&object);
    if named != file.object {
        return Err(corrupt(format!("the file holds {named}, but its path names {}", file.object)));
    }
    Ok(object)
}

impl Store for LocalStore {
    async fn list<K: StoredResource>(&self) -> Result<Vec<K>, StoreError> {
        let objects = self.objects();
        Ok(objects
            .iter()
            .filter(|(object, _)| object.kind == K::KIND)
            .filter_map(|(_, slot)| match slot {
                Slot::Ready(object) => object.downcast_ref::<K>().cloned(),
                Slot::Corrupt { .. } => None,
            })
            .collect())
    }

    async fn get<K: StoredResource>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError> {
        self.read(&target::<K>(namespace, name)?)
    }

    async fn apply<K: StoredResource>(&self, object: &K, field_manager: &str) -> Result<K, StoreError> {
        let target = target_of(object)?;
        if field_manager.trim().is_empty() {
            return Err(StoreError::Invalid {
                object: target.to_string(),
                reason: "field manager is empty".to_owned(),
            });
        }
        let guard = self.lock(&target).await;
        let current: Option<K> = self.read(&target)?;
        check_preconditions(&target, object.meta(), current.as_ref().map(|current| current.meta()))?;
        let given = object.meta();
        let (labels, annotations) = (non_empty(&given.labels), non_empty(&given.annotations));
        let spec = to_json(&target, object.spec())?;
        let now = now();

        let (mut next, generation_changed) = match current {
            None => {
                let mut next = object.clone();
                *next.meta_mut() = ObjectMeta {
                    name: Some(target.name.clone()),
                    namespace: Some(target.namespace.clone()),
                    labels,
                    annotations,
                    uid: Some(new_uid(&target)),
                    creation_timestamp: Some(now.clone()),
                    generation: Some(1),
                    ..ObjectMeta::default()
                };
                *next.status_mut() = None;
                let fields = managed::tracked(next.meta(), &spec);
                next.meta_mut().managed_fields =
                    managed::after_apply(&ObjectMeta::default(), None, &fields, field_manager, &now);
                tracing::info!(object = %target, field_manager, "created");
                (next, true)
            }
            Some(current) => {
                let old_spec = to_json(&target, current.spec())?;
                let spec_changed = old_spec != spec;
                let meta = current.meta();
                if !spec_changed && labels == non_empty(&meta.labels) && annotations == non_empty(&meta.annotations) {
                    return Ok(current);
                }
                let old_fields = managed::tracked(meta, &old_spec);
                let mut next = current.clone();
                *next.spec_mut() = object.spec().clone();
                let next_meta = next.meta_mut();
                next_meta.labels = labels;
                next_meta.annotations = annotations;
                if spec_changed {
                    next_meta.generation = Some(current.meta().generation.unwrap_or(0) + 1);
                }
                let fields = managed::tracked(next.meta(), &spec);
                next.meta_mut().managed_fields =
                    managed::after_apply(current.meta(), Some(&old_fields), &fields, field_manager, &now);
                (next, spec_changed)
            }
        };
        next.meta_mut().resource_version = Some(self.next_revision());
        self.commit(guard, &target, Some(next.clone()), generation_changed).await?;
        Ok(next)
    }

    async fn update_status<K: StoredResource>(&self, object: &K) -> Result<K, StoreError> {
        let target = target_of(object)?;
        let guard = self.lock(&target).await;
        let current: K = self.read(&target)?.ok_or_else(|| StoreError::NotFound { object: target.clone() })?;
        check_preconditions(&target, object.meta(), Some(current.meta()))?;
        if current.status() == object.status() {
            return Ok(current);
        }
        let mut next = current;
        *next.status_mut() = object.status().cloned();
        next.meta_mut().resource_version = Some(self.next_revision());
        self.commit(guard, &target, Some(next.clone()), false).await?;
        Ok(next)
    }

    async fn add_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<K, StoreError> {
        let target = target::<K>(namespace, name)?;
        let guard = self.lock(&target).await;
        let mut next: K = self.read(&target)?.ok_or_else(|| StoreError::NotFound { object: target.clone() })?;
        if !super::finalizer_needed(&target, next.meta(), finalizer)? {
            return Ok(next);
        }
        let meta = next.meta_mut();
        meta.finalizers.get_or_insert_default().push(finalizer.to_owned());
        meta.resource_version = Some(self.next_revision());
        self.commit(guard, &target, Some(next.clone()), false).await?;
        Ok(next)
    }

    async fn remove_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<Option<K>, StoreError> {
        let target = target::<K>(namespace, name)?;
        let guard = self.lock(&target).await;
        let Some(mut next) = self.read::<K>(&target)? else { return Ok(None) };
        let meta = next.meta_mut();
        let finalizers = meta.finalizers.take().unwrap_or_default();
        if !finalizers.iter().any(|present| present == finalizer) {
            meta.finalizers = Some(finalizers).filter(|finalizers| !finalizers.is_empty());
            return Ok(Some(next));
        }
        let remaining: Vec<String> = finalizers.into_iter().filter(|present| present != finalizer).collect();
        if remaining.is_empty() && meta.deletion_timestamp.is_some() {
            tracing::info!(object = %target, finalizer, "last finalizer removed; object deleted");
            self.commit::<K>(guard, &target, None, true).await?;
            return Ok(None);
        }
        meta.finalizers = Some(remaining).filter(|remaining| !remaining.is_empty());
        meta.resource_version = Some(self.next_revision());
        self.commit(guard, &target, Some(next.clone()), false).await?;
        Ok(Some(next))
    }

    async fn delete<K: StoredResource>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError> {
        let target = target::<K>(namespace, name)?;
        let guard = self.lock(&target).await;
        let Some(mut next) = self.read::<K>(&target)? else { return Ok(None) };
        let meta = next.meta_mut();
        if meta.deletion_timestamp.is_some() {
            return Ok(Some(next));
        }
        if meta.finalizers.iter().flatten().next().is_none() {
            tracing::info!(object = %target, "deleted");
            self.commit::<K>(guard, &target, None, true).await?;
            return Ok(None);
        }
        meta.deletion_timestamp = Some(now());
        meta.deletion_grace_period_seconds = Some(0);
        meta.generation = Some(meta.generation.unwrap_or(0) + 1);
        meta.resource_version = Some(self.next_revision());
        tracing::info!(object = %target, finalizers = ?meta.finalizers, "deletion started; waiting for finalizers");
        self.commit(guard, &target, Some(next.clone()), true).await?;
        Ok(Some(next))
    }

    async fn unreadable(&self) -> Result<Vec<StoreError>, StoreError> {
        let objects = self.objects();
        Ok(objects
            .iter()
            .filter_map(|(object, slot)| match slot {
                Slot::Corrupt { location, reason } => Some(StoreError::Corrupt {
                    object: Some(object.clone()),
                    location: location.clone(),
                    reason: reason.clone(),
                }),
                Slot::Ready(_) => None,
            })
            .chain(self.inner.stray.iter().map(|(location, reason)| StoreError::Corrupt {
                object: None,
                location: location.clone(),
                reason: reason.clone(),
            }))
            .collect())
    }

    fn watch(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.events.subscribe()
    }
}
