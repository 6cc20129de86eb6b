//! Savepoints and checkpoints the operator takes on its own: periodic schedules ([`schedule`]), what to trigger in
//! a reconcile loop and how a result is recorded in the legacy status fields ([`trigger`]), and which savepoints
//! the history keeps ([`retention`]). Everything here is pure: time comes in as `now_ms`, and the controller does
//! the REST calls (trigger, poll, dispose) and the status writes. Upgrade savepoints belong to `operator::decide`.

pub mod config;
pub mod retention;
pub mod schedule;
pub mod trigger;

pub use config::ConfigError;
pub use retention::{Disposal, RetentionPlan, RetentionPolicy, plan_retention, remove_disposed};
pub use schedule::{CronSchedule, Schedule, ScheduleError, is_due, next_due, parse_schedule};
pub use trigger::{SnapshotKind, Trigger, TriggerConfig, TriggerInput, TriggerType, decide_trigger};
