//! Where `FlinkDeployment` and `FlinkSessionJob` objects live: the [`Store`] trait the controllers and sync use, and
//! its local implementation ([`LocalStore`]: in memory, one JSON file per resource). The Kubernetes implementation
//! ([`KubernetesStore`], in `kubernetes/`) maps each method onto the API; `docs/store.md` states the contract.
//!
//! The store follows the Kubernetes API's semantics so both backends behave alike: `apply` writes what Git owns
//! (labels, annotations, spec) and never the status; `metadata.generation` counts spec changes;
//! `metadata.resourceVersion` changes on every write and guards status writes (optimistic concurrency); finalizers
//! hold a deleted object until they are removed; `watch` says whether an event changed the generation, so controllers
//! can skip status-only updates.

mod error;
pub mod eventing;
pub mod kubernetes;
mod local;
mod managed;
mod persist;

use std::fmt;
use std::future::Future;

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::crd::{FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, FlinkSessionJobSpec, Kind};
use crate::crd::{FlinkDeploymentStatus, FlinkSessionJobStatus};

pub use error::StoreError;
pub use kubernetes::{KubernetesStore, StrippedField, WatchNamespaces};
pub use local::LocalStore;
pub use managed::{field_managers, manager_of};

/// The field manager flinkops applies Git's desired state with (server-side apply on Kubernetes).
pub const FIELD_MANAGER: &str = "flinkops";

/// The result of [`Store::apply_reporting`]: the applied object and the fields left out of the apply.
#[derive(Debug, Clone)]
pub struct Applied<K> {
    /// The object as stored.
    pub object: K,
    /// Fields of the given object that were not applied because someone other than Git owns them, in path order.
    pub stripped: Vec<StrippedField>,
}

/// A reference to one stored object: `Kind/namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: Kind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef { kind, namespace: namespace.into(), name: name.into() }
    }

    /// The reference of a stored object (namespace `default` when unset; empty name when unset).
    pub fn of<K: StoredResource>(object: &K) -> Self {
        let meta = object.meta();
        ObjectRef::new(K::KIND, crate::validation::namespace_of(meta), meta.name.clone().unwrap_or_default())
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// A change to a stored object, as [`Store::watch`] reports it. It names the object; read the object itself with
/// [`Store::get`] (which returns `None` once it is gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreEvent {
    /// The object's kind.
    pub kind: Kind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Whether the write changed what a controller acts on: creation, a spec change, deletion starting
    /// (`deletionTimestamp` set, which bumps the generation as Kubernetes does) or the object being removed. `false`
    /// for status, finalizer, label and annotation writes, which controllers skip (kube's `predicates::generation`).
    pub generation_changed: bool,
}

impl StoreEvent {
    /// The object the event is about.
    pub fn object(&self) -> ObjectRef {
        ObjectRef::new(self.kind, self.namespace.clone(), self.name.clone())
    }
}

/// A kind the store holds: implemented for [`FlinkDeployment`] and [`FlinkSessionJob`]. The bounds are exactly what
/// kube's `Api<K>` needs, so the Kubernetes store takes the same type parameter.
pub trait StoredResource:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The desired state, written by `apply`.
    type Spec: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The observed state, written by `update_status`.
    type Status: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The kind.
    const KIND: Kind;

    /// The spec.
    fn spec(&self) -> &Self::Spec;
    /// The spec, mutably.
    fn spec_mut(&mut self) -> &mut Self::Spec;
    /// The status, if any was written.
    fn status(&self) -> Option<&Self::Status>;
    /// The status, mutably.
    fn status_mut(&mut self) -> &mut Option<Self::Status>;

    /// The object's [`ObjectRef`] (named so as not to clash with `kube::Resource::object_ref`).
    fn store_ref(&self) -> ObjectRef {
        ObjectRef::of(self)
    }
}

impl StoredResource for FlinkDeployment {
    type Spec = FlinkDeploymentSpec;
    type Status = FlinkDeploymentStatus;
    const KIND: Kind = Kind::FlinkDeployment;

    fn spec(&self) -> &Self::Spec {
        &self.spec
    }
    fn spec_mut(&mut self) -> &mut Self::Spec {
        &mut self.spec
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn status_mut(&mut self) -> &mut Option<Self::Status> {
        &mut self.status
    }
}

impl StoredResource for FlinkSessionJob {
    type Spec = FlinkSessionJobSpec;
    type Status = FlinkSessionJobStatus;
    const KIND: Kind = Kind::FlinkSessionJob;

    fn spec(&self) -> &Self::Spec {
        &self.spec
    }
    fn spec_mut(&mut self) -> &mut Self::Spec {
        &mut self.spec
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn status_mut(&mut self) -> &mut Option<Self::Status> {
        &mut self.status
    }
}

/// Whether `finalizer` must be added to the object `target` with `meta`: `false` when it is already there; an
/// error for an empty finalizer or an object being deleted (the API server refuses new finalizers then). Shared by
/// the stores' `add_finalizer`.
fn finalizer_needed(
    target: &ObjectRef,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    finalizer: &str,
) -> Result<bool, StoreError> {
    let invalid = |reason: String| StoreError::Invalid { object: target.to_string(), reason };
    if finalizer.trim().is_empty() {
        return Err(invalid("finalizer is empty".to_owned()));
    }
    if meta.finalizers.iter().flatten().any(|present| present == finalizer) {
        return Ok(false);
    }
    if meta.deletion_timestamp.is_some() {
        return Err(invalid(format!("cannot add finalizer {finalizer}: the object is being deleted")));
    }
    Ok(true)
}

/// The plural resource name of a kind (`flinkdeployments`): the Kubernetes URL segment and the local directory name.
pub fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::FlinkDeployment => "flinkdeployments",
        Kind::FlinkSessionJob => "flinksessionjobs",
    }
}

/// The resources of both kinds, as controllers, sync and the CLI read and write them. Implemented by [`LocalStore`]
/// and by the Kubernetes store; see `docs/store.md` for how each method maps onto the Kubernetes API.
///
/// Every write is atomic per object: it happens entirely or not at all, and a successful call is durable when it
/// returns. A write that changes nothing is a no-op: no new `resourceVersion`, no event. Names follow Kubernetes
/// (lowercase RFC 1123 subdomains); an object without a namespace lives in `default`.
pub trait Store: Clone + Send + Sync + 'static {
    /// Every readable object of kind `K`, ordered by namespace and name.
    ///
    /// Objects that cannot be decoded are left out and reported by [`Store::unreadable`]; one corrupt object never
    /// hides the others.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot be reached (never for the local store).
    fn list<K: StoredResource>(&self) -> impl Future<Output = Result<Vec<K>, StoreError>> + Send;

    /// One object, or `None` when it does not exist (an object being deleted is still returned, with
    /// `metadata.deletionTimestamp` set).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a malformed name; [`StoreError::Corrupt`] when it exists but cannot be decoded;
    /// [`StoreError::Unavailable`].
    fn get<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<K>, StoreError>> + Send;

    /// Creates or updates `object` from its desired state: `metadata.labels`, `metadata.annotations` and `spec` are
    /// written as given; the status and all other metadata of a stored object are kept. On create the store sets
    /// `uid`, `creationTimestamp` and `generation` 1 (the argument's status is ignored). `generation` grows by one
    /// when the spec changes (compared as JSON). `metadata.managedFields` records, per top-level spec field and per
    /// label and annotation key, the field manager whose write last set its value (`drift` names it).
    ///
    /// # Idempotence
    /// Applying the same object again changes nothing and returns the stored object unchanged.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a missing or malformed name or namespace; [`StoreError::Conflict`] when the
    /// argument carries a `resourceVersion` or `uid` that is not the stored one; [`StoreError::Corrupt`] when the
    /// stored object cannot be decoded (it is not overwritten); [`StoreError::Io`], [`StoreError::Unavailable`].
    fn apply<K: StoredResource>(
        &self,
        object: &K,
        field_manager: &str,
    ) -> impl Future<Output = Result<K, StoreError>> + Send;

    /// As [`Store::apply`], also returning the fields of `object` that were left out because someone other than
    /// Git owns them. The Kubernetes store strips and reports what other field managers own on the live object
    /// (`docs/store.md`, "Server-side apply and stripped fields"); the local store, whose apply is coarse, reports
    /// nothing (this default).
    ///
    /// # Errors
    /// As [`Store::apply`].
    fn apply_reporting<K: StoredResource>(
        &self,
        object: &K,
        field_manager: &str,
    ) -> impl Future<Output = Result<Applied<K>, StoreError>> + Send {
        async move { Ok(Applied { object: self.apply(object, field_manager).await?, stripped: Vec::new() }) }
    }

    /// Writes `object`'s status (the status subresource) and nothing else; `generation` is unchanged.
    ///
    /// # Idempotence
    /// Writing the stored status again changes nothing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when `object` carries a `resourceVersion` (or `uid`) other
    /// than the stored one, that is, someone wrote since it was read: re-read, re-decide and retry. Without a
    /// `resourceVersion` the write is unconditional. [`StoreError::Invalid`], [`StoreError::Corrupt`],
    /// [`StoreError::Io`], [`StoreError::Unavailable`].
    fn update_status<K: StoredResource>(&self, object: &K) -> impl Future<Output = Result<K, StoreError>> + Send;

    /// Adds `finalizer` to the object's `metadata.finalizers`.
    ///
    /// # Idempotence
    /// Adding a finalizer that is present changes nothing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Invalid`] for an empty finalizer or when the object is being deleted
    /// and does not carry it yet (Kubernetes forbids new finalizers then); [`StoreError::Corrupt`],
    /// [`StoreError::Io`], [`StoreError::Unavailable`].
    fn add_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> impl Future<Output = Result<K, StoreError>> + Send;

    /// Removes `finalizer`. When the object is being deleted and this was its last finalizer, the object is removed
    /// and `None` is returned; otherwise the stored object.
    ///
    /// # Idempotence
    /// Removing a finalizer that is absent, or from an object that is gone, changes nothing (`Ok`, `None` when gone).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a malformed name; [`StoreError::Corrupt`], [`StoreError::Io`],
    /// [`StoreError::Unavailable`].
    fn remove_finalizer<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> impl Future<Output = Result<Option<K>, StoreError>> + Send;

    /// Deletes the object with Kubernetes semantics: without finalizers it is removed at once (`None`); with
    /// finalizers only `metadata.deletionTimestamp` is set (and the generation bumped) and the object stays, returned
    /// as `Some`, until [`Store::remove_finalizer`] removes the last one.
    ///
    /// # Idempotence
    /// Deleting an object already being deleted returns it unchanged; deleting a missing object is `Ok(None)`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a malformed name; [`StoreError::Corrupt`] (a corrupt object is not removed: repair
    /// or remove it by hand); [`StoreError::Io`], [`StoreError::Unavailable`].
    fn delete<K: StoredResource>(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<K>, StoreError>> + Send;

    /// Objects of any kind that exist but cannot be decoded, one [`StoreError::Corrupt`] each (with the file path or
    /// API location), for `status` output and events.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    fn unreadable(&self) -> impl Future<Output = Result<Vec<StoreError>, StoreError>> + Send;

    /// Subscribes to every successful write from now on, in the order each object was written. The event is sent
    /// after the write is durable, so a `get` on receipt sees it (or a later state).
    ///
    /// A receiver that falls behind gets `RecvError::Lagged`: it has missed events and must re-list to resync, as
    /// a kube watcher re-lists after a desync.
    fn watch(&self) -> broadcast::Receiver<StoreEvent>;

    /// Publishes an event about `object` where the store has events (Kubernetes: [`eventing::EventingStore`]);
    /// elsewhere it does nothing (the local store's record is the log). Never fails: an event is best effort.
    fn publish_event<K: StoredResource>(
        &self,
        object: &K,
        warning: bool,
        reason: &str,
        note: &str,
    ) -> impl Future<Output = ()> + Send {
        let _ = (object, warning, reason, note);
        async {}
    }
}

#[cfg(test)]
mod tests;
