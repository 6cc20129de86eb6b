//! Objects as the API server returns them ([`DynamicObject`]) and their decoding into a typed kind: the store reads
//! raw so one undecodable object fails alone, as `Corrupt` with its `Kind/namespace/name` and the offending field.

use kube::api::{ApiResource, DynamicObject};

use crate::store::{ObjectRef, StoreError, StoredResource, local};

/// The API resource of `K` (group, version, plural), for `Api<DynamicObject>`.
pub(super) fn resource<K: StoredResource>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

/// The reference of a raw object of kind `K`.
pub(super) fn reference<K: StoredResource>(object: &DynamicObject) -> ObjectRef {
    let meta = &object.metadata;
    ObjectRef::new(K::KIND, crate::validation::namespace_of(meta), meta.name.clone().unwrap_or_default())
}

/// Decodes a raw object as `K`.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the object (`Kind/namespace/name`) and the JSON path of the field that does not
/// decode.
pub(super) fn decode<K: StoredResource>(object: &DynamicObject) -> Result<K, StoreError> {
    let target = reference::<K>(object);
    let corrupt =
        |reason: String| StoreError::Corrupt { object: Some(target.clone()), location: target.to_string(), reason };
    let value = serde_json::to_value(object).map_err(|error| corrupt(error.to_string()))?;
    local::decode_value(value).map_err(corrupt)
}

/// A typed object as a raw one (for the typed write calls of `Api<DynamicObject>`).
pub(super) fn encode<K: StoredResource>(target: &ObjectRef, object: &K) -> Result<DynamicObject, StoreError> {
    let value = local::to_json(target, object)?;
    serde_json::from_value(value).map_err(|source| StoreError::Encode { object: target.clone(), source })
}
