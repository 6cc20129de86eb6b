//! Which file and document define a resource: the manifest loader's view of a revision (its path filter, its
//! namespace defaulting), read only from the files that mention one of the wanted names.

use std::collections::{BTreeMap, HashMap, HashSet};

use git2::{Oid, Repository};

use super::annotations::annotations_of;
use crate::crd::Kind;
use crate::git::{GitError, PathFilter, tree};
use crate::manifests::load::load_texts;
use crate::plan::context::mentions_any;

/// A resource by identity: kind, namespace (as the loader defaults it) and name.
pub type ResourceKey = (Kind, String, String);

/// Where a resource is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File, relative to the repository root.
    pub file: String,
    /// 0-based index of the document in the file (as [`super::edit::set_annotations`] takes it).
    pub document: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The manifest's current string annotations (for the opt-outs).
    pub annotations: BTreeMap<String, String>,
}

/// Finds the wanted resources among `(path, bytes)` files. A file is parsed only when its bytes mention one of
/// the wanted names; the first definition of a resource wins (the loader reports duplicates as errors). Pure.
pub fn locate_in_files<'f>(
    files: impl IntoIterator<Item = (&'f str, &'f [u8])>,
    wanted: &HashSet<ResourceKey>,
) -> HashMap<ResourceKey, Location> {
    let names: HashSet<String> = wanted.iter().map(|(_, _, name)| name.clone()).collect();
    let candidates: Vec<(String, std::io::Result<Vec<u8>>)> = files
        .into_iter()
        .filter(|(_, bytes)| mentions_any(bytes, &names))
        .map(|(path, bytes)| (path.to_owned(), Ok(bytes.to_vec())))
        .collect();
    let mut found = HashMap::new();
    for manifest in load_texts(candidates).manifests {
        let key = (manifest.kind, manifest.namespace.clone(), manifest.name.clone());
        if wanted.contains(&key) && !found.contains_key(&key) {
            let location = Location {
                file: manifest.file.clone(),
                document: manifest.document.index,
                line: manifest.line(),
                annotations: annotations_of(&manifest.document.value),
            };
            found.insert(key, location);
        }
    }
    found
}

/// [`locate_in_files`] over the files of a commit that `filter` selects.
///
/// # Errors
/// [`GitError::UnknownRevision`] for a missing commit, [`GitError::Local`] for an unreadable blob.
pub fn locate_in_commit(
    repo: &Repository,
    commit: Oid,
    filter: &PathFilter,
    wanted: &HashSet<ResourceKey>,
) -> Result<HashMap<ResourceKey, Location>, GitError> {
    let names: HashSet<String> = wanted.iter().map(|(_, _, name)| name.clone()).collect();
    let mut candidates: Vec<(String, Vec<u8>)> = Vec::new();
    tree::for_each_file(repo, commit, filter, |path, bytes| {
        if mentions_any(bytes, &names) {
            candidates.push((path.to_owned(), bytes.to_vec()));
        }
    })?;
    Ok(locate_in_files(candidates.iter().map(|(p, b)| (p.as_str(), b.as_slice())), wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_file_and_document_with_default_namespace() {
        let files = [
            (
                "a.yaml",
                "kind: ConfigMap\nmetadata: {name: orders}\n---\napiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: orders\n  annotations: {flinkops.io/write-back: \"false\"}\n",
            ),
            (
                "b.yaml",
                "apiVersion: flink.apache.org/v1beta1\nkind: FlinkSessionJob\nmetadata:\n  name: clicks\n  namespace: team-a\n",
            ),
            ("c.yaml", "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: other\n"),
        ];
        let wanted: HashSet<ResourceKey> = [
            (Kind::FlinkDeployment, "default".to_owned(), "orders".to_owned()),
            (Kind::FlinkSessionJob, "team-a".to_owned(), "clicks".to_owned()),
            (Kind::FlinkDeployment, "team-a".to_owned(), "orders".to_owned()),
        ]
        .into();
        let found = locate_in_files(files.iter().map(|(p, t)| (*p, t.as_bytes())), &wanted);
        assert_eq!(found.len(), 2, "{found:?}");
        let orders = &found[&(Kind::FlinkDeployment, "default".to_owned(), "orders".to_owned())];
        assert_eq!((orders.file.as_str(), orders.document, orders.line), ("a.yaml", 1, 4));
        assert_eq!(orders.annotations["flinkops.io/write-back"], "false");
        let clicks = &found[&(Kind::FlinkSessionJob, "team-a".to_owned(), "clicks".to_owned())];
        assert_eq!((clicks.file.as_str(), clicks.document), ("b.yaml", 0));
    }
}
