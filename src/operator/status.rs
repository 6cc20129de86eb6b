//! Derived status: `lifecycleState` (upstream §1.6), the `Running` condition upstream writes, and the kstatus
//! conditions `Ready`, `Reconciling` and `Stalled` that Flux and Argo CD read. Pure functions of the status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::JobState;
use crate::crd::status::{
    FlinkDeploymentStatus, FlinkJobState, JobManagerDeploymentStatus, ReconciliationState, ResourceLifecycleState,
};

use super::reconciled::ReconciledSpec;

/// `lifecycleState`, first match wins (§1.6).
pub fn lifecycle_state(status: &FlinkDeploymentStatus, deleting: bool) -> ResourceLifecycleState {
    if deleting {
        return ResourceLifecycleState::Deleting;
    }
    let reconciliation = status.reconciliation_status.as_ref();
    let Some(reconciled) =
        reconciliation.and_then(|r| r.last_reconciled_spec.as_deref()).and_then(ReconciledSpec::decode)
    else {
        return if status.error.is_some() { ResourceLifecycleState::Failed } else { ResourceLifecycleState::Created };
    };
    match reconciliation.and_then(|r| r.state) {
        Some(ReconciliationState::Upgrading) => return ResourceLifecycleState::Upgrading,
        Some(ReconciliationState::RollingBack) => return ResourceLifecycleState::RollingBack,
        _ => {}
    }
    if reconciled.job_state() == JobState::Suspended {
        return ResourceLifecycleState::Suspended;
    }
    if status.job_status.as_ref().and_then(|j| j.state) == Some(FlinkJobState::Failed) {
        return ResourceLifecycleState::Failed;
    }
    if reconciliation.and_then(|r| r.state) == Some(ReconciliationState::RolledBack) {
        return ResourceLifecycleState::RolledBack;
    }
    let stable = reconciliation.and_then(|r| r.last_stable_spec.as_deref());
    if stable.is_some() && stable == reconciliation.and_then(|r| r.last_reconciled_spec.as_deref()) {
        ResourceLifecycleState::Stable
    } else {
        ResourceLifecycleState::Deployed
    }
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, generation: Option<i64>, now: &Time) -> Condition {
    Condition {
        type_: kind.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// The conditions of a deployment: upstream's `Running` (application: the job runs; session: the JobManager is
/// ready) and kstatus `Ready`, `Reconciling`, `Stalled` (never both Ready and Stalled). Transition times are
/// kept when a condition's status did not change.
pub fn conditions(
    status: &FlinkDeploymentStatus,
    is_session: bool,
    generation: i64,
    stalled: Option<&str>,
    now: &Time,
) -> Vec<Condition> {
    let lifecycle = status.lifecycle_state;
    let job_state = status.job_status.as_ref().and_then(|j| j.state);
    let jm_ready = status.job_manager_deployment_status == Some(JobManagerDeploymentStatus::Ready);
    let running = if is_session { jm_ready } else { job_state == Some(FlinkJobState::Running) };
    let running_reason = match (is_session, job_state) {
        (true, _) => if jm_ready { "Ready" } else { "NotReady" }.to_owned(),
        (false, Some(state)) => camel_case(&format!("{state:?}")),
        (false, None) => "Unknown".to_owned(),
    };
    let observed = status.observed_generation == Some(generation);
    let settled = matches!(
        lifecycle,
        Some(ResourceLifecycleState::Stable | ResourceLifecycleState::Suspended | ResourceLifecycleState::Deployed)
    );
    let ready =
        stalled.is_none() && observed && settled && (running || lifecycle == Some(ResourceLifecycleState::Suspended));
    let reconciling = stalled.is_none() && !ready;
    let generation = Some(generation);
    let mut out = vec![
        condition("Running", running, &running_reason, &format!("Job status {running_reason}"), generation, now),
        condition(
            "Ready",
            ready,
            if ready { "Succeeded" } else { "Progressing" },
            &format!("lifecycle {}", lifecycle.map_or("CREATED".to_owned(), |l| format!("{l:?}"))),
            generation,
            now,
        ),
        condition(
            "Reconciling",
            reconciling,
            if reconciling { "Progressing" } else { "Succeeded" },
            "",
            generation,
            now,
        ),
    ];
    if let Some(message) = stalled {
        out.push(condition("Stalled", true, "Failed", message, generation, now));
    }
    // Keep the transition time of conditions whose status did not change.
    for condition in &mut out {
        if let Some(previous) =
            status.conditions.iter().find(|c| c.type_ == condition.type_ && c.status == condition.status)
        {
            condition.last_transition_time = previous.last_transition_time.clone();
        }
    }
    out
}

fn camel_case(screaming: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in screaming.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::status::{JobStatus, ReconciliationStatus};
    use crate::crd::{FlinkDeploymentSpec, JobSpec};

    fn status(state: ReconciliationState, job_state: JobState, stable: bool) -> FlinkDeploymentStatus {
        let spec = FlinkDeploymentSpec { job: Some(JobSpec::default()), ..Default::default() };
        let record = ReconciledSpec::new(&spec, job_state, None, false).encode();
        FlinkDeploymentStatus {
            observed_generation: Some(1),
            reconciliation_status: Some(ReconciliationStatus {
                last_reconciled_spec: Some(record.clone()),
                last_stable_spec: stable.then_some(record),
                state: Some(state),
                ..Default::default()
            }),
            job_status: Some(JobStatus { state: Some(FlinkJobState::Running), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn lifecycle_follows_upstream_order() {
        assert_eq!(lifecycle_state(&FlinkDeploymentStatus::default(), false), ResourceLifecycleState::Created);
        let failed_before_deploy = FlinkDeploymentStatus { error: Some("bad".into()), ..Default::default() };
        assert_eq!(lifecycle_state(&failed_before_deploy, false), ResourceLifecycleState::Failed);
        assert_eq!(
            lifecycle_state(&status(ReconciliationState::Upgrading, JobState::Running, false), false),
            ResourceLifecycleState::Upgrading
        );
        assert_eq!(
            lifecycle_state(&status(ReconciliationState::Deployed, JobState::Suspended, true), false),
            ResourceLifecycleState::Suspended
        );
        assert_eq!(
            lifecycle_state(&status(ReconciliationState::Deployed, JobState::Running, false), false),
            ResourceLifecycleState::Deployed
        );
        assert_eq!(
            lifecycle_state(&status(ReconciliationState::Deployed, JobState::Running, true), false),
            ResourceLifecycleState::Stable
        );
        assert_eq!(
            lifecycle_state(&status(ReconciliationState::Deployed, JobState::Running, true), true),
            ResourceLifecycleState::Deleting
        );
    }

    #[test]
    fn ready_and_stalled_are_never_both_true() {
        let now = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        let mut stable = status(ReconciliationState::Deployed, JobState::Running, true);
        stable.lifecycle_state = Some(ResourceLifecycleState::Stable);
        let ready = conditions(&stable, false, 1, None, &now);
        let find = |c: &[Condition], t: &str| c.iter().find(|c| c.type_ == t).map(|c| c.status.clone());
        assert_eq!(find(&ready, "Ready").as_deref(), Some("True"));
        assert_eq!(find(&ready, "Running").as_deref(), Some("True"));
        assert_eq!(find(&ready, "Reconciling").as_deref(), Some("False"));
        let stalled = conditions(&stable, false, 1, Some("jar missing"), &now);
        assert_eq!(find(&stalled, "Ready").as_deref(), Some("False"));
        assert_eq!(find(&stalled, "Stalled").as_deref(), Some("True"));
        let newer_generation = conditions(&stable, false, 2, None, &now);
        assert_eq!(find(&newer_generation, "Ready").as_deref(), Some("False"), "a new generation is not ready yet");
        assert_eq!(find(&newer_generation, "Reconciling").as_deref(), Some("True"));
    }
}
