//! The local runtime: Flink clusters as child processes of flinkops, from a distribution on this machine.

pub mod artifacts;
pub mod launcher;
pub mod runtime;

pub use runtime::LocalRuntime;
