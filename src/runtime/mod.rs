//! Where Flink clusters run: the `Runtime` implementations (local processes now, Kubernetes later).

pub mod local;
