//! Fault injection for the crash-safety test: with `FLINKOPS_CRASH_AT=<point>` in its environment, the process
//! exits abruptly (no cleanup, no destructors, like a SIGKILL) the first time it reaches that point of an upgrade.

/// The exit code of an injected crash, so a test can tell it from a real failure.
pub const CRASH_EXIT_CODE: i32 = 86;

/// The environment variable naming the point to crash at.
pub const CRASH_AT_VARIABLE: &str = "FLINKOPS_CRASH_AT";

/// The points of a savepoint upgrade, in the order they are reached.
pub const UPGRADE_POINTS: &[&str] = &[
    // The stop-with-savepoint trigger id is recorded; Flink was not asked yet.
    "stop-recorded",
    // Flink was asked to stop the job with a savepoint.
    "stop-issued",
    // The savepoint completed and the job stopped; nothing recorded yet.
    "savepoint-completed",
    // The savepoint is recorded as the restore point.
    "stop-recorded-savepoint",
    // The new spec and job id are recorded; the old cluster still runs.
    "deploy-recorded",
    // The new cluster runs the new job, restored from the savepoint; not yet recorded as deployed.
    "cluster-replaced",
    // Recorded as deployed.
    "deployed",
];

/// Exits the process when `point` is the configured crash point.
pub fn reached(point: &str) {
    if std::env::var(CRASH_AT_VARIABLE).is_ok_and(|wanted| wanted == point) {
        eprintln!("flinkops: injected crash at {point} ({CRASH_AT_VARIABLE})");
        std::process::exit(CRASH_EXIT_CODE);
    }
}
