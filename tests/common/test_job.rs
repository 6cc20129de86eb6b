//! The stateful test job (`e2e/flink-job`) as an application `FlinkDeployment` manifest, shared by the real-Flink
//! tests and the operator benchmark: block style, one key per line, so tests can find and edit lines.

#![allow(dead_code)]

use std::path::Path;

/// A `FlinkDeployment` of the test job; adjust the public fields, then take [`TestJob::yaml`].
#[derive(Debug, Clone)]
pub struct TestJob<'a> {
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// `metadata.name`.
    pub name: &'a str,
    /// The job jar (`jarURI: local://<jar>`).
    pub jar: &'a Path,
    /// Checkpoints and savepoints go to `<snapshots>/checkpoints` and `<snapshots>/savepoints`.
    pub snapshots: &'a Path,
    /// `--rate`: records per second.
    pub rate: u32,
    /// `--keys`: distinct keys of the keyed state.
    pub keys: u32,
    /// `--splits`: source splits.
    pub splits: u32,
    /// `spec.job.upgradeMode`.
    pub upgrade_mode: &'a str,
    /// `spec.job.parallelism`.
    pub parallelism: u32,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots: u32,
    /// Extra job arguments, each a quoted YAML string followed by a comma (e.g. `"--backlog", `).
    pub args_extra: &'a str,
    /// Extra lines under `spec.job`, each indented by 4 spaces and ending in a newline.
    pub job_extra: &'a str,
    /// Extra lines under `spec.flinkConfiguration`, each indented by 4 spaces and ending in a newline.
    pub config_extra: &'a str,
}

impl<'a> TestJob<'a> {
    /// `namespace/name` running the job from `jar` with 100 keys at 100 records/s, savepoint upgrades.
    pub fn new(namespace: &'a str, name: &'a str, jar: &'a Path, snapshots: &'a Path) -> Self {
        TestJob {
            namespace,
            name,
            jar,
            snapshots,
            rate: 100,
            keys: 100,
            splits: 8,
            upgrade_mode: "savepoint",
            parallelism: 2,
            slots: 2,
            args_extra: "",
            job_extra: "",
            config_extra: "",
        }
    }

    /// The manifest.
    pub fn yaml(&self) -> String {
        format!(
            r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  flinkVersion: v2_3
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "{slots}"
    execution.checkpointing.interval: 1s
    execution.checkpointing.dir: file://{snapshots}/checkpoints
    execution.checkpointing.savepoint-dir: file://{snapshots}/savepoints
{config_extra}  jobManager: {{resource: {{memory: 1024m, cpu: 1}}}}
  taskManager: {{resource: {{memory: 1024m, cpu: 1}}}}
  job:
    jarURI: local://{jar}
    entryClass: io.flinkops.testjob.StatefulCounterJob
    args: [{args_extra}"--rate", "{rate}", "--keys", "{keys}", "--splits", "{splits}"]
    parallelism: {parallelism}
    upgradeMode: {upgrade_mode}
{job_extra}"#,
            name = self.name,
            namespace = self.namespace,
            snapshots = self.snapshots.display(),
            config_extra = self.config_extra,
            jar = self.jar.display(),
            rate = self.rate,
            keys = self.keys,
            splits = self.splits,
            upgrade_mode = self.upgrade_mode,
            parallelism = self.parallelism,
            slots = self.slots,
            args_extra = self.args_extra,
            job_extra = self.job_extra,
        )
    }
}
