//! flinkops: Apache Flink on Kubernetes the GitOps way.
//!
//! Data flows one way: Git → `manifests` (parse, validate, positions) → plan → apply → store ← controllers →
//! runtime, with savepoint write-back the only path back to Git. Start at [`cli`] for the commands, [`crd`] for
//! the resource model and [`validation`] for the rules every entry point shares.

#![warn(missing_docs, unreachable_pub)]

pub mod allocator;
pub mod autoscaler;
pub mod cli;
pub mod crd;
pub mod drift;
pub mod flink;
pub mod git;
pub mod kubernetes;
pub mod manifests;
pub mod operator;
pub mod ownership;
pub mod plan;
pub mod runtime;
pub mod savepoints;
pub mod store;
pub mod units;
pub mod validation;
pub mod webhook;
pub mod writeback;
