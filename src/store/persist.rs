//! The local store's files: the layout `<state-dir>/resources/<kind-plural>/<namespace>/<name>.json`, crash-safe
//! writes (temp file, fsync, rename, fsync of the directory), removal, and the scan at startup. Names are checked
//! here, since a checked name is what keeps a path inside the state directory. Decoding belongs to `local.rs`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::crd::Kind;

use super::{ObjectRef, StoreError, plural};

/// The directory under the state directory that holds the resources.
const RESOURCES: &str = "resources";
/// Suffix of the temporary file a write goes through; a leftover one is from a crash and is removed at startup.
const TMP_SUFFIX: &str = ".tmp";

/// Where each object's file is.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    root: PathBuf,
}

/// A file found by [`Layout::scan`]: the object its path names, the path and its bytes.
pub(super) struct Found {
    pub(super) object: ObjectRef,
    pub(super) path: PathBuf,
    pub(super) bytes: Vec<u8>,
}

impl Layout {
    /// The layout under `state_dir`.
    pub(super) fn new(state_dir: &Path) -> Self {
        Layout { root: state_dir.join(RESOURCES) }
    }

    /// The file of `object`. The name and namespace must have passed [`check_ref`].
    pub(super) fn file(&self, object: &ObjectRef) -> PathBuf {
        self.root.join(plural(object.kind)).join(&object.namespace).join(format!("{}.json", object.name))
    }

    /// Reads every resource file, creating the directory if it is missing. Files that cannot be read or whose path
    /// does not name a resource are returned as problems ([`StoreError::Corrupt`]) next to the others; leftover
    /// temporary files are removed.
    ///
    /// # Errors
    /// [`StoreError::Io`] when a directory cannot be created or listed: then it is unknown which objects exist, and
    /// writing any of them could overwrite one that could not be seen.
    pub(super) fn scan(&self, remove_leftovers: bool) -> Result<(Vec<Found>, Vec<StoreError>), StoreError> {
        fs::create_dir_all(&self.root).map_err(io_error(&self.root))?;
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for kind_dir in read_dir(&self.root)? {
            let Some(kind) = Kind::ALL.into_iter().find(|kind| file_name(&kind_dir) == plural(*kind)) else {
                tracing::warn!(path = %kind_dir.display(), "ignoring an unknown entry in the state directory");
                continue;
            };
            for namespace_dir in read_dir(&kind_dir)? {
                let namespace = file_name(&namespace_dir);
                for path in read_dir(&namespace_dir)? {
                    match self.read_one(kind, &namespace, path, remove_leftovers) {
                        Ok(Some(file)) => found.push(file),
                        Ok(None) => {}
                        Err(error) => problems.push(error),
                    }
                }
            }
        }
        Ok((found, problems))
    }

    fn read_one(
        &self,
        kind: Kind,
        namespace: &str,
        path: PathBuf,
        remove_leftovers: bool,
    ) -> Result<Option<Found>, StoreError> {
        let file = file_name(&path);
        if file.starts_with('.') && file.ends_with(TMP_SUFFIX) {
            if !remove_leftovers {
                return Ok(None);
            }
            tracing::info!(path = %path.display(), "removing a temporary file left by an interrupted write");
            fs::remove_file(&path).map_err(io_error(&path))?;
            return Ok(None);
        }
        let corrupt = |object: Option<ObjectRef>, reason: String| StoreError::Corrupt {
            object,
            location: path.display().to_string(),
            reason,
        };
        let Some(name) = file.strip_suffix(".json") else {
            return Err(corrupt(None, "not a resource file (expected <name>.json)".to_owned()));
        };
        let object = ObjectRef::new(kind, namespace, name);
        if let Err(reason) = check_ref(&object) {
            return Err(corrupt(None, format!("the path does not name a resource: {reason}")));
        }
        // Unreadable is reported like undecodable, with the object named, so no write replaces what was not seen.
        let bytes = fs::read(&path).map_err(|error| corrupt(Some(object.clone()), format!("cannot read: {error}")))?;
        Ok(Some(Found { object, path, bytes }))
    }
}

/// Writes `bytes` to `path` so that a crash at any point leaves either the old file or the new one, never a mix:
/// write a temporary file beside it, fsync it, rename it over `path`, fsync the directory.
///
/// # Errors
/// [`StoreError::Io`]; the old file is then intact.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().ok_or_else(|| io_error(path)(io::Error::other("no parent directory")))?;
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        // Make the new namespace (and kind) directory entries durable too.
        for ancestor in dir.ancestors().skip(1).take(2) {
            sync_dir(ancestor)?;
        }
    }
    let tmp = dir.join(format!(".{}{TMP_SUFFIX}", file_name(path)));
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| fs::rename(&tmp, path)) {
        // Best effort: a leftover temporary file is removed at the next startup anyway.
        let _ = fs::remove_file(&tmp);
        return Err(io_error(path)(error));
    }
    sync_dir(dir)
}

/// Removes `path` durably; a missing file is fine.
///
/// # Errors
/// [`StoreError::Io`].
pub(super) fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(path)(error)),
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|dir| dir.sync_all()).map_err(io_error(dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        paths.push(entry.map_err(io_error(dir))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Checks a reference against Kubernetes' naming rules: the namespace is an RFC 1123 label (at most 63 characters),
/// the name an RFC 1123 subdomain (at most 253): lowercase letters, digits, `-` (and `.` in names), starting and
/// ending with a letter or digit. Such names never contain `/` and never start with `.`, so paths stay inside the
/// state directory and never collide with temporary files.
pub(super) fn check_ref(object: &ObjectRef) -> Result<(), String> {
    check_dns(&object.namespace, 63, false).map_err(|reason| format!("namespace {:?} {reason}", object.namespace))?;
    check_dns(&object.name, 253, true).map_err(|reason| format!("name {:?} {reason}", object.name))
}

fn check_dns(text: &str, max: usize, dots: bool) -> Result<(), &'static str> {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if text.is_empty() {
        return Err("is empty");
    }
    if text.len() > max {
        return Err("is too long");
    }
    if !text.chars().all(|c| alphanumeric(c) || c == '-' || (dots && c == '.')) {
        return Err("may contain only lowercase letters, digits, '-' and (in names) '.'");
    }
    if !text.starts_with(alphanumeric) || !text.ends_with(alphanumeric) {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes_rules() {
        let check = |namespace: &str, name: &str| check_ref(&ObjectRef::new(Kind::FlinkDeployment, namespace, name));
        assert!(check("default", "word-count").is_ok());
        assert!(check("team-a", "word.count.v2").is_ok());
        for (namespace, name) in [
            ("default", ""),
            ("default", ".."),
            ("default", "../etc"),
            ("default", "a/b"),
            ("default", "Upper"),
            ("default", "-lead"),
            ("default", ".hidden"),
            ("a.b", "job"),
            ("", "job"),
        ] {
            assert!(check(namespace, name).is_err(), "{namespace}/{name} accepted");
        }
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let object = ObjectRef::new(Kind::FlinkSessionJob, "ns", "job");
        let path = layout.file(&object);
        write_atomic(&path, b"{\"first\":1}").unwrap();
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        let (found, problems) = layout.scan(true).unwrap();
        assert!(problems.is_empty());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].object, object);
        assert_eq!(read_dir(path.parent().unwrap()).unwrap(), vec![path.clone()]);
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn the_scan_removes_leftover_temporaries_and_reports_stray_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let ns = dir.path().join("resources/flinkdeployments/ns");
        fs::create_dir_all(&ns).unwrap();
        fs::write(ns.join(".job.json.tmp"), b"{half").unwrap();
        fs::write(ns.join("notes.txt"), b"hello").unwrap();
        fs::create_dir_all(dir.path().join("resources/other")).unwrap();
        let (found, problems) = layout.scan(true).unwrap();
        assert!(found.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().contains("notes.txt"));
        assert!(!ns.join(".job.json.tmp").exists());
    }
}
