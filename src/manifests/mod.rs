//! Manifests as files: discovery of YAML files, parsing with positions, classification by kind, and the
//! validation report that names file, line, column and field for every problem.

pub mod emit;
pub mod load;
pub mod path;
pub mod yaml;

pub use load::{Discovered, LoadedManifest, ManifestSet, Problem, discover, load_paths};
