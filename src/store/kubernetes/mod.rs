//! `KubernetesStore`: the [`Store`] on the Kubernetes API (kube 5), one API call per method as `docs/store.md`
//! maps them. Objects are read raw (`Api<DynamicObject>`) and decoded here, so an undecodable object fails alone
//! (`raw.rs`); `apply` is a non-forced server-side apply whose payload leaves out other managers' fields
//! (`ssa.rs`); the watch runs in background tasks (`watch.rs`); API errors map by status code (`errors.rs`).
//!
//! # RBAC
//! On `flinkdeployments` and `flinksessionjobs` (group `flink.apache.org`): `get`, `list`, `watch`, `patch`,
//! `create` (a server-side apply that creates an object is authorized as `create`), `delete`; on their `/status`
//! subresources: `update`, `patch`.

mod errors;
mod raw;
mod ssa;
mod watch;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::local::{check_preconditions, target, target_of, to_json};
use super::{Applied, ObjectRef, Store, StoreError, StoreEvent, StoredResource};
use crate::crd::{FlinkDeployment, FlinkSessionJob};

pub use ssa::{ApplyPayload, StrippedField, apply_payload};

/// How many events a watcher may fall behind by before it gets `Lagged` (and must re-list). Sized for the initial
/// list of a large installation (1,000 objects of each kind) at a few dozen bytes per event.
const EVENT_CAPACITY: usize = 4096;

/// The namespaces the operator watches (`FLINKOPS_WATCH_NAMESPACES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchNamespaces {
    /// Every namespace (cluster-wide list and watch).
    All,
    /// Only these (one list and watch per namespace and kind).
    Only(Vec<String>),
}

impl WatchNamespaces {
    /// Parses the Helm chart's `FLINKOPS_WATCH_NAMESPACES`: comma-separated names, blanks ignored; empty means all.
    pub fn parse(value: &str) -> Self {
        let mut names: Vec<String> =
            value.split(',').map(str::trim).filter(|name| !name.is_empty()).map(str::to_owned).collect();
        names.sort();
        names.dedup();
        if names.is_empty() { WatchNamespaces::All } else { WatchNamespaces::Only(names) }
    }
}

/// The [`Store`] on a Kubernetes API server. Cheap to clone (clones share the client and the watch).
#[derive(Clone)]
pub struct KubernetesStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    namespaces: WatchNamespaces,
    events: broadcast::Sender<StoreEvent>,
    watching: AtomicBool,
    watchers: Mutex<Vec<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The watch tasks hold only a sender, not the store: stop them with the last clone.
        for handle in self.watchers.get_mut().map(std::mem::take).unwrap_or_default() {
            handle.abort();
        }
    }
}

impl std::fmt::Debug for KubernetesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesStore").field("namespaces", &self.inner.namespaces).finish_non_exhaustive()
    }
}

impl KubernetesStore {
    /// A store on `client`'s cluster over `namespaces`. Makes no call; the watch starts with the first
    /// [`Store::watch`] (which must run inside a tokio runtime).
    pub fn new(client: Client, namespaces: WatchNamespaces) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let inner =
            Inner { client, namespaces, events, watching: AtomicBool::new(false), watchers: Mutex::new(Vec::new()) };
        KubernetesStore { inner: Arc::new(inner) }
    }

    fn api<K: StoredResource>(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.inner.client.clone(), namespace, &raw::resource::<K>())
    }

    /// One `Api` per watched scope: cluster-wide, or one per namespace.
    fn scopes<K: StoredResource>(&self) -> Vec<(String, Api<DynamicObject>)> {
        match &self.inner.namespaces {
            WatchNamespaces::All => {
                vec![("*".to_owned(), Api::all_with(self.inner.client.clone(), &raw::resource::<K>()))]
            }
            WatchNamespaces::Only(namespaces) => {
                namespaces.iter().map(|namespace| (namespace.clone(), self.api::<K>(namespace))).collect()
            }
        }
    }

    /// The object, decoded (`None` when absent).
    async fn read<K: StoredResource>(
        &self,
        api: &Api<DynamicObject>,
        target: &ObjectRef,
    ) -> Result<Option<K>, StoreError> {
        let found = api.get_opt(&target.name).await.map_err(|error| errors::from_kube(error, target))?;
        found.as_ref().map(raw::decode).transpose()
    }

    /// Every raw object of kind `K` in the watched namespaces.
    async fn list_raw<K: StoredResource>(&self) -> Result<Vec<DynamicObject>, StoreError> {
        let mut objects = Vec::new();
        for (scope, api) in self.scopes::<K>() {
            let list = api.list(&ListParams::default()).await.map_err(|error| {
                match errors::from_kube(error, &ObjectRef::new(K::KIND, scope.clone(), "")) {
                    // A list is never "not found" unless the CRD is missing: a configuration error.
                    StoreError::NotFound { object } => StoreError::Invalid {
                        object: object.to_string(),
                        reason: format!("cannot list {}: is the CRD installed?", super::plural(K::KIND)),
                    },
                    other => other,
                }
            })?;
            objects.extend(list.items);
        }
        Ok(objects)
    }

    /// Starts the watch tasks once (one per kind and scope).
    fn start_watching(&self) {
        if self.inner.watching.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.watching.store(false, Ordering::SeqCst);
            tracing::error!("KubernetesStore::watch called outside a tokio runtime; no events will be sent");
            return;
        };
        let mut handles = Vec::new();
        for (_, api) in self.scopes::<FlinkDeployment>() {
            let task = watch::run::<FlinkDeployment>(api, self.inner.events.clone());
            handles.push(runtime.spawn(task).abort_handle());
        }
        for (_, api) in self.scopes::<FlinkSessionJob>() {
            let task = watch::run::<FlinkSessionJob>(api, self.inner.events.clone());
            handles.push(runtime.spawn(task).abort_handle());
        }
        if let Ok(mut watchers) = self.inner.watchers.lock() {
            watchers.extend(handles);
        }
    }

    /// A JSON patch on the object's metadata whose `test` operations make it conditional.
    async fn patch_tested<K: StoredResource>(
        &self,
        target: &ObjectRef,
        operations: Value,
    ) -> Result<DynamicObject, StoreError> {
        let patch: json_patch::Patch = serde_json::from_value(operations)
            .map_err(|source| StoreError::Encode { object: target.clone(), source })?;
        self.api::<K>(&target.namespace)
            .patch(&target.name, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
            .map_err(|error| errors::from_kube_tested_patch(error, target))
    }
}

/// Whether an object the API server returned is gone (deletion started and no finalizer left holds it).
fn is_gone<K: StoredResource>(object: &K) -> bool {
    let meta = object.meta();
    meta.deletion_timestamp.is_some() && meta.finalizers.iter().flatten().next().is_none()
}

impl Store for KubernetesStore {
    async fn list<K: StoredResource>(&self) -> Result<Vec<K>, StoreError> {
        let mut objects: Vec<K> = Vec::new();
        for object in self.list_raw::<K>().await? {
            match raw::decode::<K>(&object) {
                Ok(decoded) => objects.push(decoded),
                Err(error) => tracing::debug!(%error, "left out of list; reported by unreadable()"),
            }
        }
        objects.sort_by_key(|object| object.store_ref());
        Ok(objects)
    }

    async fn get<K: StoredResource>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError> {
        let target = target::<K>(namespace, name)?;
        self.read(&self.api::<K>(namespace), &target).await
    }

    async fn apply<K: StoredResource>(&self, object: &K, field_manager: &str) -> Result<K, StoreError> {
        Ok(self.apply_reporting(object, field_manager).await?.object)
    }

    /// Strips and reports the fields another field manager (an HPA, `kubectl-edit`), the operator or the
    /// autoscaler owns; each is logged at `info`.
    ///
    /// Reads the live object first (its `managedFields`), then sends a server-side apply (never forced) as
    /// `field_manager` of `apiVersion`, `kind`, `metadata.{name, namespace, labels, annotations}` and `spec`, minus
    /// the stripped fields, plus the caller's `resourceVersion`/`uid` as preconditions.
    ///
    /// # Idempotence
    /// The same object again is a no-op on the API server (no new resourceVersion, no event).
    ///
    /// # Errors
    /// As [`Store::apply`]: `Invalid`, `Conflict` (a stale `resourceVersion`/`uid`), `Corrupt` (the live object
    /// does not decode; it is not overwritten), `Unavailable`.
    ///
    /// # RBAC
    /// `get`, `patch`, and `create` when the object is new.
    async fn apply_reporting<K: StoredResource>(
        &self,
        object: &K,
        field_manager: &str,
    ) -> Result<Applied<K>, StoreError> {
        let target = target_of(object)?;
        if field_manager.trim().is_empty() {
            return Err(StoreError::Invalid {
                object: target.to_string(),
                reason: "field manager is empty".to_owned(),
            });
        }
        let api = self.api::<K>(&target.namespace);
        let live: Option<K> = self.read(&api, &target).await?;
        let live_meta = live.as_ref().map(|live| live.meta());
        check_preconditions(&target, object.meta(), live_meta)?;
        let desired = to_json(&target, object)?;
        let ApplyPayload { mut payload, stripped } = apply_payload(&target, &desired, live_meta, field_manager);
        for field in &stripped {
            tracing::info!(
                object = %target,
                field = %field.path,
                owner = %field.owner,
                managers = ?field.managers,
                reason = field.reason,
                "left out of the apply: not Git's"
            );
        }
        // The caller's resourceVersion and uid travel as preconditions: the API server answers 409 when stale.
        if let Some(metadata) = payload.get_mut("metadata").and_then(Value::as_object_mut) {
            let given = object.meta();
            for (key, value) in [("resourceVersion", &given.resource_version), ("uid", &given.uid)] {
                if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
                    metadata.insert(key.to_owned(), Value::String(value.to_owned()));
                }
            }
        }
        let applied = api
            .patch(&target.name, &PatchParams::apply(field_manager), &Patch::Apply(&payload))
            .await
            .map_err(|error| errors::from_kube(error, &target))?;
        if live.is_none() {
            tracing::info!(object = %target, field_manager, "created");
        }
        Ok(Applied { object: raw::decode(&applied)?, stripped })
    }

    async fn update_status<K: StoredResource>(&self, object: &K) -> Result<K, StoreError> {
        let target = target_of(object)?;
        let api = self.api::<K>(&target.namespace);
        let map = |error| errors::from_kube(error, &target);
        // NB: the API server skips a write that changes nothing (no new resourceVersion, no watch event), so an
        // unchanged status is a no-op without a read first.
        let written = if object.meta().resource_version.as_deref().is_some_and(|rv| !rv.is_empty()) {
            // A PUT carries the resourceVersion: a stale one is a 409 (optimistic concurrency).
            let mut body = raw::encode(&target, object)?;
            // Sent back, managedFields would be taken as the caller's own ownership record; left out, the API
            // server keeps tracking them.
            body.metadata.managed_fields = None;
            api.replace_status(&target.name, &PostParams::default(), &body).await.map_err(map)?
        } else {
            // Unconditional: CRDs reject a PUT without a resourceVersion, so replace the status by JSON patch.
            let status = to_json(&target, &object.status())?;
            let patch: json_patch::Patch =
                serde_json::from_value(json!([{"op": "add", "path": "/status", "value": status}]))
                    .map_err(|source| StoreError::Encode { object: target.clone(), source })?;
            api.patch_status(&target.name, &PatchParams::default(), &Patch::Json::<()>(patch)).await.map_err(map)?
        };
        raw::decode(&written)
    }

    async fn add_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<K, StoreError> {
        let target = target::<K>(namespace, name)?;
        let current: K = self
            .read(&self.api::<K>(namespace), &target)
            .await?
            .ok_or_else(|| StoreError::NotFound { object: target.clone() })?;
        if !crate::store::finalizer_needed(&target, current.meta(), finalizer)? {
            return Ok(current);
        }
        let meta = current.meta();
        // As kube-runtime's finalizer helper: test the list we read, so a concurrent writer makes this a Conflict.
        let operations = match &meta.finalizers {
            None => json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
            ]),
            Some(finalizers) => json!([
                {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
                {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
            ]),
        };
        raw::decode(&self.patch_tested::<K>(&target, operations).await?)
    }

    async fn remove_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<Option<K>, StoreError> {
        let target = target::<K>(namespace, name)?;
        let Some(current) = self.read::<K>(&self.api::<K>(namespace), &target).await? else { return Ok(None) };
        let Some(index) = current.meta().finalizers.iter().flatten().position(|present| present == finalizer) else {
            return Ok(Some(current));
        };
        let operations = json!([
            {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": finalizer},
            {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
        ]);
        let patched = match self.patch_tested::<K>(&target, operations).await {
            Ok(patched) => patched,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let object: K = raw::decode(&patched)?;
        if is_gone(&object) {
            tracing::info!(object = %target, finalizer, "last finalizer removed; object deleted");
            return Ok(None);
        }
        Ok(Some(object))
    }

    async fn delete<K: StoredResource>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError> {
        let target = target::<K>(namespace, name)?;
        let api = self.api::<K>(namespace);
        // Read first: a corrupt object is never removed, and one already being deleted is returned unchanged.
        let Some(current) = self.read::<K>(&api, &target).await? else { return Ok(None) };
        if current.meta().deletion_timestamp.is_some() {
            return Ok(Some(current));
        }
        let deleted = match api.delete(&target.name, &DeleteParams::default()).await {
            Ok(deleted) => deleted,
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
            Err(error) => return Err(errors::from_kube(error, &target)),
        };
        // `left()` is the object (a `Status` otherwise). The API server returns the object both while finalizers
        // hold it and, for some resources, right after removing it; only the former is still there.
        match deleted.left() {
            Some(object) => {
                let object: K = raw::decode(&object)?;
                if is_gone(&object) || object.meta().deletion_timestamp.is_none() {
                    tracing::info!(object = %target, "deleted");
                    return Ok(None);
                }
                tracing::info!(object = %target, finalizers = ?object.meta().finalizers, "deletion started");
                Ok(Some(object))
            }
            None => {
                tracing::info!(object = %target, "deleted");
                Ok(None)
            }
        }
    }

    async fn unreadable(&self) -> Result<Vec<StoreError>, StoreError> {
        let mut corrupt = Vec::new();
        let deployments = self.list_raw::<FlinkDeployment>().await?;
        corrupt.extend(deployments.iter().filter_map(|object| raw::decode::<FlinkDeployment>(object).err()));
        drop(deployments);
        let jobs = self.list_raw::<FlinkSessionJob>().await?;
        corrupt.extend(jobs.iter().filter_map(|object| raw::decode::<FlinkSessionJob>(object).err()));
        Ok(corrupt)
    }

    fn watch(&self) -> broadcast::Receiver<StoreEvent> {
        // Subscribe before starting, so the initial list's events reach this receiver.
        let receiver = self.inner.events.subscribe();
        self.start_watching();
        receiver
    }
}
