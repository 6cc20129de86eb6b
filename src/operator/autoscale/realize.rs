//! In-place realization (§2.11): under Flink's adaptive scheduler, new vertex parallelism goes through
//! `PUT /jobs/:id/resource-requirements`, no redeploy. The redeploy path (overrides in the deployed spec, the job's
//! own upgrade mode) is decide's ordinary upgrade and needs nothing here.

use std::collections::BTreeMap;

use crate::flink::client::{FlinkClient, FlinkClientError, JobResourceRequirements, ParallelismBounds};

/// Whether the job runs under the adaptive scheduler (`jobmanager.scheduler: adaptive` in its configuration), the
/// prerequisite of in-place rescaling. `false` when Flink cannot say.
pub async fn adaptive_scheduler(client: &FlinkClient, job_id: &str) -> bool {
    client
        .job_config(job_id)
        .await
        .ok()
        .and_then(|config| config.get("jobmanager.scheduler").cloned())
        .is_some_and(|scheduler| scheduler.trim().eq_ignore_ascii_case("adaptive"))
}

/// The requirements with each overridden vertex set to `{lowerBound: min(new, old lower), upperBound: new}`; the
/// other vertices as they are. `None` when nothing changes.
pub fn requirements_for(
    current: &JobResourceRequirements,
    overrides: &BTreeMap<String, i32>,
) -> Option<JobResourceRequirements> {
    let mut wanted = current.clone();
    for (vertex, requirements) in &mut wanted {
        let Some(parallelism) = overrides.get(vertex).and_then(|p| u32::try_from(*p).ok()).filter(|p| *p > 0) else {
            continue;
        };
        requirements.parallelism = ParallelismBounds {
            lower_bound: requirements.parallelism.lower_bound.min(parallelism),
            upper_bound: parallelism,
        };
    }
    (wanted != *current).then_some(wanted)
}

/// Sets the overrides as the job's resource requirements, if they differ; returns whether a PUT was sent.
///
/// # Errors
/// What the client reports (the default scheduler answers 500 `UnsupportedOperationException`).
pub async fn scale_in_place(
    client: &FlinkClient,
    job_id: &str,
    overrides: &BTreeMap<String, i32>,
) -> Result<bool, FlinkClientError> {
    let current = client.resource_requirements(job_id).await?;
    let Some(wanted) = requirements_for(&current, overrides) else { return Ok(false) };
    client.set_resource_requirements(job_id, &wanted).await?;
    client.forget_metric_names(job_id);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::client::VertexResourceRequirements;

    fn bounds(lower: u32, upper: u32) -> VertexResourceRequirements {
        VertexResourceRequirements { parallelism: ParallelismBounds { lower_bound: lower, upper_bound: upper } }
    }

    #[test]
    fn requirements_move_only_overridden_vertices() {
        let current: JobResourceRequirements = [("a".to_owned(), bounds(1, 2)), ("b".to_owned(), bounds(2, 2))].into();
        let overrides = [("a".to_owned(), 4), ("b".to_owned(), 1)].into();
        let wanted = requirements_for(&current, &overrides).unwrap();
        assert_eq!(wanted["a"], bounds(1, 4), "scale-up keeps the lower bound");
        assert_eq!(wanted["b"], bounds(1, 1), "scale-down lowers it");
        let unchanged = [("a".to_owned(), 2)].into();
        assert_eq!(requirements_for(&current, &unchanged), None);
        let unknown = [("zz".to_owned(), 9)].into();
        assert_eq!(requirements_for(&current, &unknown), None, "vertices Flink does not list are not added");
    }
}
