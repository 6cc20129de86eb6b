//! Everything about talking to Flink: configuration keys, the REST client, configuration rendering.

pub mod client;
pub mod config_keys;
pub mod config_render;
