//! Loading manifests from files and directories: every document is classified (Flink kind, other kind, not a
//! Kubernetes object), validated, and every problem carries its file, line, column and field path. One bad
//! document never hides the others.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::path::FieldPath;
use super::yaml::{Document, parse_documents};
use crate::crd::Kind;
use crate::validation::{self, Context, Finding, Resource, Severity};

/// A problem with a place: what `validate`, `plan` and sync report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// File, as given or relative to the scanned root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path, or `(document)` for whole-document problems.
    pub path: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.finding())
    }
}

impl Problem {
    /// The problem without its position (`severity: path: message`), as the admission webhook reports it.
    pub fn finding(&self) -> String {
        validation::describe(self.severity, &self.path, &self.message)
    }
}

/// One Flink manifest that was found, with its source and what validation said.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    /// File the manifest is in.
    pub file: String,
    /// The parsed document (value and positions).
    pub document: Document,
    /// The kind.
    pub kind: Kind,
    /// `metadata.namespace` (or `default`) and `metadata.name`.
    pub namespace: String,
    /// `metadata.name` (empty when missing).
    pub name: String,
    /// The typed resource, when the manifest is valid enough to build one.
    pub resource: Option<Resource>,
    /// Whether any error was found in this manifest.
    pub has_errors: bool,
}

impl LoadedManifest {
    /// 1-based line where the document starts.
    pub fn line(&self) -> usize {
        self.document.start.line
    }
}

/// A document that is not a Flink resource, reported as skipped.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// File.
    pub file: String,
    /// 1-based line of the document.
    pub line: usize,
    /// `kind` of the document, if it has one.
    pub kind: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// Everything loaded from a set of paths.
#[derive(Debug, Clone, Default)]
pub struct ManifestSet {
    /// Number of YAML files read.
    pub files: usize,
    /// Flink manifests, in file order.
    pub manifests: Vec<LoadedManifest>,
    /// Documents that are not Flink resources.
    pub skipped: Vec<Skipped>,
    /// Every problem, errors and warnings, in file order.
    pub problems: Vec<Problem>,
}

impl ManifestSet {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == Severity::Error).count()
    }
}

/// A YAML file found under a path, and the name to report it by.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Where to read it.
    pub path: PathBuf,
    /// How to name it in reports.
    pub display: String,
}

/// Errors that stop discovery itself (not problems in manifests).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A path given on the command line does not exist or cannot be read.
    #[error("{path}: {source}")]
    Unreadable {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Finds the YAML files (`*.yaml`, `*.yml`) under the given files and directories, recursively, in a stable
/// order, skipping hidden directories such as `.git`.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Discovered>, DiscoverError> {
    let mut found = Vec::new();
    for root in paths {
        let metadata = std::fs::metadata(root)
            .map_err(|source| DiscoverError::Unreadable { path: root.display().to_string(), source })?;
        if metadata.is_file() {
            found.push(Discovered { path: root.clone(), display: root.display().to_string() });
            continue;
        }
        let mut stack = vec![root.clone()];
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|source| DiscoverError::Unreadable { path: dir.display().to_string(), source })?;
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                let Ok(file_type) = entry.file_type() else { continue };
                if file_type.is_dir() {
                    stack.push(path);
                } else if is_yaml(&path) {
                    files.push(path);
                }
            }
        }
        files.sort();
        found.extend(files.into_iter().map(|path| Discovered { display: path.display().to_string(), path }));
    }
    Ok(found)
}

fn is_yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Reads, parses and validates files. Session jobs are checked against the deployments found in the same set.
pub fn load_paths(files: &[Discovered]) -> ManifestSet {
    let texts = files.iter().map(|file| (file.display.clone(), std::fs::read(&file.path)));
    load_texts(texts)
}

/// Like [`load_paths`], for texts already in memory (Git blobs, tests): `(name, bytes or read error)`.
pub fn load_texts(texts: impl IntoIterator<Item = (String, std::io::Result<Vec<u8>>)>) -> ManifestSet {
    let mut set = ManifestSet::default();
    let mut pending: Vec<(String, Document, Kind)> = Vec::new();
    for (file, bytes) in texts {
        set.files += 1;
        let text = match bytes.map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                set.problems.push(file_problem(&file, "the file is not UTF-8 text"));
                continue;
            }
            Err(error) => {
                set.problems.push(file_problem(&file, &format!("cannot read the file: {error}")));
                continue;
            }
        };
        let parsed = parse_documents(&text);
        for error in parsed.errors {
            set.problems.push(Problem {
                file: file.clone(),
                line: error.line,
                column: error.column,
                path: FieldPath::root().to_string(),
                severity: Severity::Error,
                message: format!("YAML syntax error: {}", error.message),
            });
        }
        for document in parsed.documents {
            match classify(&document.value) {
                Ok(kind) => pending.push((file.clone(), document, kind)),
                Err(reason) => set.skipped.push(Skipped {
                    file: file.clone(),
                    line: document.start.line,
                    kind: document.value.get("kind").and_then(Value::as_str).map(str::to_owned),
                    reason,
                }),
            }
        }
    }
    validate_all(&mut set, pending);
    set.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    set
}

fn file_problem(file: &str, message: &str) -> Problem {
    Problem {
        file: file.to_owned(),
        line: 1,
        column: 1,
        path: FieldPath::root().to_string(),
        severity: Severity::Error,
        message: message.to_owned(),
    }
}

/// The Flink kind of a document, or why it is skipped (shared with the admission webhook).
pub fn classify(value: &Value) -> Result<Kind, String> {
    let Value::Object(_) = value else { return Err("not a Kubernetes object (not a mapping)".into()) };
    let kind = value.get("kind").and_then(Value::as_str).ok_or("no kind")?;
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api_version.split('/').next().unwrap_or_default();
    let labels = value.pointer("/metadata/labels");
    if labels.and_then(|l| l.get("flink.apache.org/canary")).and_then(Value::as_str) == Some("true") {
        return Err("canary resource (upstream's operator health probe); not a workload".into());
    }
    match Kind::from_name(kind) {
        Some(kind) if group == crate::crd::GROUP || api_version.is_empty() => Ok(kind),
        Some(_) => Err(format!("apiVersion {api_version} is not {}", crate::crd::API_VERSION)),
        None if group == crate::crd::GROUP => Err(format!("{kind} is a Flink kind flinkops does not manage")),
        None => Err(format!("{kind} is not a Flink resource")),
    }
}

fn validate_all(set: &mut ManifestSet, pending: Vec<(String, Document, Kind)>) {
    // First pass: deployments, so session jobs can be checked against them.
    let mut outcomes: Vec<Option<validation::Outcome>> = vec![None; pending.len()];
    let empty_context = Context::default();
    for (slot, (_, document, kind)) in outcomes.iter_mut().zip(&pending) {
        if *kind == Kind::FlinkDeployment {
            *slot = Some(validation::validate(*kind, &document.value, &empty_context));
        }
    }
    let deployments: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o.as_ref().and_then(|o| o.resource.as_ref()) {
            Some(Resource::Deployment(d)) => Some(d.as_ref().clone()),
            _ => None,
        })
        .collect();
    let context = Context::with_deployments(deployments.iter());
    for (slot, (_, document, kind)) in outcomes.iter_mut().zip(&pending) {
        if slot.is_none() {
            *slot = Some(validation::validate(*kind, &document.value, &context));
        }
    }

    let mut seen: HashMap<(Kind, String, String), (String, usize)> = HashMap::new();
    for ((file, document, kind), outcome) in pending.into_iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| validation::validate(kind, &document.value, &context));
        let metadata = document.value.get("metadata");
        let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned();
        let namespace =
            metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("default").to_owned();
        let mut findings = outcome.findings.clone();
        if !name.is_empty() {
            let identity = (kind, namespace.clone(), name.clone());
            if let Some((other_file, other_line)) = seen.get(&identity) {
                findings.push(Finding::error(
                    FieldPath::parse("metadata.name"),
                    format!("{kind} {namespace}/{name} is also defined at {other_file}:{other_line}"),
                ));
            } else {
                seen.insert(identity, (file.clone(), document.start.line));
            }
        }
        let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
        for finding in findings {
            let position = document.position_of(&finding.path);
            set.problems.push(Problem {
                file: file.clone(),
                line: position.line,
                column: position.column,
                path: finding.path.to_string(),
                severity: finding.severity,
                message: finding.message,
            });
        }
        set.manifests.push(LoadedManifest {
            file,
            document,
            kind,
            namespace,
            name,
            resource: if has_errors { None } else { outcome.resource },
            has_errors,
        });
    }
}

/// Counts of manifests by kind, for summaries.
pub fn count_by_kind(set: &ManifestSet) -> BTreeMap<Kind, usize> {
    let mut counts = BTreeMap::new();
    for manifest in &set.manifests {
        *counts.entry(manifest.kind).or_default() += 1;
    }
    counts
}
