//! The write-back loop: collects the savepoints the controllers record and commits them to Git as annotations,
//! one commit per interval. The controllers report each savepoint as it is recorded (with the job it was taken
//! from); a scan of the store catches any whose report was lost in a crash, since status is the record.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{info, warn};

use crate::crd::status::SnapshotTriggerType;
use crate::crd::{FlinkDeployment, FlinkSessionJob, JobState, Kind};
use crate::store::{ObjectRef, Store};
use crate::writeback::annotations::SAVEPOINT_PATH;
use crate::writeback::{SavepointRecord, SkipReason, WriteBack};

use super::managed::Managed;
use super::reconciled::ReconciledSpec;

/// The write-back trigger name of a savepoint: `suspend` for a stop whose recorded job state is suspended.
pub fn trigger_name(trigger_type: Option<SnapshotTriggerType>, suspended: bool) -> &'static str {
    match trigger_type {
        Some(SnapshotTriggerType::Manual) => "manual",
        Some(SnapshotTriggerType::Periodic) => "periodic",
        _ if suspended => "suspend",
        _ => "upgrade",
    }
}

/// The newest savepoint of a resource (in its deployment-shaped view) when the Git manifest does not record it
/// yet. The job id is only known for savepoints of the running job (manual, periodic).
pub fn unrecorded_savepoint(kind: Kind, view: &FlinkDeployment) -> Option<SavepointRecord> {
    let status = view.status.as_ref()?;
    let job_status = status.job_status.as_ref()?;
    let last = job_status.savepoint_info.as_ref()?.last_savepoint.as_ref()?;
    let location = last.location.clone().filter(|l| !l.is_empty())?;
    let annotated = view.metadata.annotations.as_ref().and_then(|a| a.get(SAVEPOINT_PATH));
    if annotated == Some(&location) {
        return None;
    }
    let suspended = status
        .reconciliation_status
        .as_ref()
        .and_then(|r| r.last_reconciled_spec.as_deref())
        .and_then(ReconciledSpec::decode)
        .is_some_and(|r| r.job_state() == JobState::Suspended);
    let of_running_job = matches!(last.trigger_type, Some(SnapshotTriggerType::Manual | SnapshotTriggerType::Periodic));
    Some(SavepointRecord {
        kind,
        namespace: crate::validation::namespace_of(&view.metadata),
        name: view.metadata.name.clone().unwrap_or_default(),
        location,
        time_ms: last.time_stamp.unwrap_or(0),
        trigger: trigger_name(last.trigger_type, suspended).to_owned(),
        job_id: if of_running_job { job_status.job_id.clone() } else { None },
    })
}

async fn scan<S: Store, K: Managed>(store: &S, into: &mut Vec<SavepointRecord>) {
    match store.list::<K>().await {
        Ok(all) => into.extend(all.iter().filter_map(|object| unrecorded_savepoint(K::KIND, &object.view()))),
        Err(error) => warn!(%error, "write-back cannot list the stored resources"),
    }
}

/// Runs until the record channel closes: every `interval`, the pending records (and any savepoint the store has
/// that Git lacks) go into one commit.
pub async fn run<S: Store>(
    store: S,
    writer: WriteBack,
    mut reported: UnboundedReceiver<SavepointRecord>,
    interval: Duration,
) {
    let mut writer = Some(writer);
    let mut pending: BTreeMap<ObjectRef, SavepointRecord> = BTreeMap::new();
    // What was pushed per resource, so the scan does not re-send it while the sync catches up with the commit.
    let mut written: BTreeMap<ObjectRef, String> = BTreeMap::new();
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            record = reported.recv() => match record {
                Some(record) => {
                    let key = ObjectRef::new(record.kind, record.namespace.clone(), record.name.clone());
                    pending.insert(key, record);
                }
                None => break,
            },
            _ = timer.tick() => {
                let mut found = Vec::new();
                scan::<S, FlinkDeployment>(&store, &mut found).await;
                scan::<S, FlinkSessionJob>(&store, &mut found).await;
                for record in found {
                    let key = ObjectRef::new(record.kind, record.namespace.clone(), record.name.clone());
                    if written.get(&key) != Some(&record.location) {
                        pending.entry(key).or_insert(record);
                    }
                }
                if pending.is_empty() {
                    continue;
                }
                let Some(mut owned) = writer.take() else { break };
                let records: Vec<SavepointRecord> = pending.values().cloned().collect();
                let (returned, result) = match tokio::task::spawn_blocking(move || {
                    let result = owned.write(&records);
                    (owned, result)
                })
                .await
                {
                    Ok(done) => done,
                    Err(error) => {
                        warn!(%error, "the write-back task panicked; write-back stops");
                        break;
                    }
                };
                writer = Some(returned);
                match result {
                    Ok(outcome) => {
                        if let Some(commit) = &outcome.commit {
                            info!(commit = %commit, resources = ?outcome.written, attempts = outcome.attempts, "savepoints written back to Git");
                        }
                        for skipped in &outcome.skipped {
                            match &skipped.reason {
                                SkipReason::Disabled => {}
                                reason => warn!(resource = %skipped.resource, ?reason, "savepoint not written back"),
                            }
                        }
                        for (key, record) in std::mem::take(&mut pending) {
                            written.insert(key, record.location);
                        }
                    }
                    Err(error) => {
                        warn!(%error, pending = pending.len(), "write-back failed; retrying next interval");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::status::{FlinkDeploymentStatus, JobStatus, ReconciliationStatus, Savepoint, SavepointInfo};

    fn view(trigger_type: SnapshotTriggerType, job_state: JobState, annotated: Option<&str>) -> FlinkDeployment {
        let yaml = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: orders, namespace: streaming}\nspec:\n  job: {jarURI: \"local:///job.jar\"}\n";
        let mut deployment: FlinkDeployment = crate::manifests::yaml::from_str(yaml).unwrap();
        if let Some(path) = annotated {
            deployment.metadata.annotations = Some([(SAVEPOINT_PATH.to_owned(), path.to_owned())].into());
        }
        let recorded = ReconciledSpec::new(&deployment.spec, job_state, None, false);
        deployment.status = Some(FlinkDeploymentStatus {
            reconciliation_status: Some(ReconciliationStatus {
                last_reconciled_spec: Some(recorded.encode()),
                ..Default::default()
            }),
            job_status: Some(JobStatus {
                job_id: Some("a".repeat(32)),
                savepoint_info: Some(SavepointInfo {
                    last_savepoint: Some(Savepoint {
                        location: Some("file:///sp/2".into()),
                        time_stamp: Some(1_700_000_000_000),
                        trigger_type: Some(trigger_type),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        deployment
    }

    #[test]
    fn a_savepoint_git_does_not_hold_is_recorded_with_its_trigger() {
        let record =
            unrecorded_savepoint(Kind::FlinkDeployment, &view(SnapshotTriggerType::Upgrade, JobState::Running, None))
                .unwrap();
        assert_eq!(
            (record.location.as_str(), record.trigger.as_str(), record.namespace.as_str()),
            ("file:///sp/2", "upgrade", "streaming")
        );
        assert_eq!(record.job_id, None, "an upgrade savepoint's job is no longer the recorded one");
        let suspended = view(SnapshotTriggerType::Upgrade, JobState::Suspended, Some("file:///sp/1"));
        assert_eq!(unrecorded_savepoint(Kind::FlinkDeployment, &suspended).unwrap().trigger, "suspend");
        let periodic = view(SnapshotTriggerType::Periodic, JobState::Running, None);
        let record = unrecorded_savepoint(Kind::FlinkDeployment, &periodic).unwrap();
        assert_eq!((record.trigger.as_str(), record.job_id), ("periodic", Some("a".repeat(32))));
    }

    #[test]
    fn a_savepoint_git_already_holds_is_not_recorded_again() {
        let held = view(SnapshotTriggerType::Manual, JobState::Running, Some("file:///sp/2"));
        assert_eq!(unrecorded_savepoint(Kind::FlinkDeployment, &held), None);
        let mut none = held.clone();
        none.status = None;
        assert_eq!(unrecorded_savepoint(Kind::FlinkDeployment, &none), None);
    }
}
