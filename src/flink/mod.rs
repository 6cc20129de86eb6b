//! Everything about talking to Flink: configuration keys, the REST client, configuration rendering.

pub mod config_keys;
pub mod client;
