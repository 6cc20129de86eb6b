//! Shared helpers of the integration tests: where the repository, `../shared` and the fixtures are.

#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository (CI and every developer machine has it).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("FLINKOPS_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared"))
}

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}
pub mod flink;
pub mod kube_tools;
pub mod operator;
pub mod test_job;
