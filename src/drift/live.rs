//! The live side of `drift`: the objects of a [`Store`] (any implementation), and which of their fields other field
//! managers own, read from `metadata.managedFields`.
//!
//! A field another manager wrote is *drift* (someone changed Git's field out of band, and the report names them),
//! except where that manager owns it by design: `spec.taskManager.replicas`, the scale subresource's target, when
//! any manager other than Git's claims it (an HPA or KEDA; the ownership table's own row), and every field of a
//! manager the caller names as an owner (`--ignore-manager`, as Argo CD's `managedFieldsManagers`).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::crd::{FlinkDeployment, FlinkSessionJob, Kind};
use crate::manifests::path::FieldPath;
use crate::ownership::OwnershipContext;
use crate::store::{FIELD_MANAGER, ObjectRef, Store, StoreError, StoredResource, field_managers, manager_of};

/// One live object, as JSON, with its metadata for managedFields.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    /// Kind.
    pub kind: Kind,
    /// Namespace (`default` when unset).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The whole object as the store serves it.
    pub value: Value,
    /// Its metadata (for `managedFields`).
    pub meta: ObjectMeta,
}

impl LiveObject {
    /// A live object from a stored one.
    ///
    /// # Errors
    /// [`StoreError::Encode`] when the object does not serialize (a bug in a type).
    pub fn of<K: StoredResource>(object: &K) -> Result<Self, StoreError> {
        let ObjectRef { kind, namespace, name } = ObjectRef::of(object);
        let value = serde_json::to_value(object).map_err(|source| StoreError::Encode {
            object: ObjectRef::new(kind, namespace.clone(), name.clone()),
            source,
        })?;
        Ok(LiveObject { kind, namespace, name, value, meta: object.meta().clone() })
    }

    /// The manager that wrote `path` (or the nearest recorded field above it), if the store recorded one.
    pub fn manager_of(&self, path: &FieldPath) -> Option<String> {
        manager_of(&self.meta, path)
    }
}

/// Which field manager applies Git, and which other managers own whatever they write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerPolicy {
    /// Git's field manager (`flinkops`).
    pub git_manager: String,
    /// Managers whose fields are theirs, not drift.
    pub owners: BTreeSet<String>,
}

impl Default for ManagerPolicy {
    fn default() -> Self {
        ManagerPolicy { git_manager: FIELD_MANAGER.to_owned(), owners: BTreeSet::new() }
    }
}

/// The path of the scale subresource.
fn replicas_path() -> FieldPath {
    FieldPath::root().key("spec").key("taskManager").key("replicas")
}

/// The ownership context of one comparison: the autoscaler flag from the desired (Git) side, and the paths other
/// managers own per the [`ManagerPolicy`] and the live object's managedFields. Pure.
pub fn ownership_context(desired: &Value, live: &LiveObject, policy: &ManagerPolicy) -> OwnershipContext {
    let foreign = |manager: &str| manager != policy.git_manager;
    let mut owned: BTreeSet<FieldPath> = field_managers(&live.meta)
        .into_iter()
        .filter(|(_, manager)| foreign(manager) && policy.owners.contains(manager))
        .map(|(path, _)| path)
        .collect();
    let replicas = replicas_path();
    if live.manager_of(&replicas).is_some_and(|manager| foreign(&manager)) {
        owned.insert(replicas);
    }
    OwnershipContext::for_desired(desired).with_other_managers(owned)
}

/// Everything a store holds, for [`compare`](super::compare).
#[derive(Debug, Default)]
pub struct LiveSet {
    /// Readable objects of both kinds.
    pub objects: Vec<LiveObject>,
    /// Objects that exist but cannot be decoded (and objects that cannot be encoded).
    pub unreadable: Vec<StoreError>,
}

/// Reads every `FlinkDeployment` and `FlinkSessionJob` of a store, and what it could not read.
///
/// # Errors
/// What [`Store::list`] and [`Store::unreadable`] report ([`StoreError::Unavailable`]).
pub async fn read<S: Store>(store: &S) -> Result<LiveSet, StoreError> {
    let mut set = LiveSet::default();
    collect(&mut set, store.list::<FlinkDeployment>().await?);
    collect(&mut set, store.list::<FlinkSessionJob>().await?);
    set.unreadable.extend(store.unreadable().await?);
    Ok(set)
}

fn collect<K: StoredResource>(set: &mut LiveSet, objects: Vec<K>) {
    for object in &objects {
        match LiveObject::of(object) {
            Ok(live) => set.objects.push(live),
            Err(error) => set.unreadable.push(error),
        }
    }
}
