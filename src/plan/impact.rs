//! Upgrade impact of one changed resource: which upgrade path the operator will take (from upstream's diff classes
//! and upgrade decision rules, `reference/flink-operator-semantics.md` §2.3–§2.5, §2.11), the interruption to
//! expect, and the risks a reviewer should weigh. Pure and table-driven: [`DIFF_CLASSES`] maps fields to diff
//! classes, [`RISK_RULES`] lists one function per risk.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::diff::{Change, IgnoredField};
use crate::crd::{FlinkVersion, Kind};
use crate::flink::config_keys;
use crate::manifests::path::{FieldPath, Segment};
use crate::ownership::Owner;
use crate::validation::Severity;

/// The upgrade path a change triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Upgrade {
    /// Nothing happens to the job.
    None,
    /// Only labels or annotations change; the job keeps running.
    MetadataOnly,
    /// Stop with a savepoint, redeploy, restore from it.
    Savepoint,
    /// Redeploy and resume from the latest checkpoint (HA metadata).
    LastState,
    /// Cancel and start from empty state: state is lost.
    Stateless,
    /// Rescale through the adaptive scheduler, without a redeploy.
    InPlaceRescale,
    /// Stop the job and keep it stopped.
    Suspend,
    /// Start a suspended job again.
    Resume,
    /// A new `restartNonce` (or a session cluster redeploy): restart through the configured upgrade mode.
    Restart,
    /// A new `savepointTriggerNonce`: take a savepoint, keep running.
    SavepointTrigger,
    /// A new `savepointRedeployNonce`: cancel and redeploy from `initialSavepointPath`.
    SavepointRedeploy,
    /// A new resource.
    Create,
    /// A removed resource.
    Delete,
}

impl Upgrade {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Upgrade::None => "none",
            Upgrade::MetadataOnly => "metadata-only",
            Upgrade::Savepoint => "savepoint",
            Upgrade::LastState => "last-state",
            Upgrade::Stateless => "stateless",
            Upgrade::InPlaceRescale => "in-place-rescale",
            Upgrade::Suspend => "suspend",
            Upgrade::Resume => "resume",
            Upgrade::Restart => "restart",
            Upgrade::SavepointTrigger => "savepoint-trigger",
            Upgrade::SavepointRedeploy => "savepoint-redeploy",
            Upgrade::Create => "create",
            Upgrade::Delete => "delete",
        }
    }

    /// Whether the job is stopped and started again (so the upgrade mode decides what happens to state).
    pub fn redeploys(self) -> bool {
        matches!(
            self,
            Upgrade::Savepoint
                | Upgrade::LastState
                | Upgrade::Stateless
                | Upgrade::Restart
                | Upgrade::SavepointRedeploy
        )
    }
}

impl std::fmt::Display for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a risk matters. `High` makes `flinkops plan` exit with 3, so CI can require an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Worth knowing.
    Low,
    /// Check before merging.
    Medium,
    /// State can be lost or the change cannot work as written.
    High,
}

impl RiskLevel {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

/// One risk of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// How much it matters.
    pub level: RiskLevel,
    /// The rule that found it (stable, for tooling).
    pub rule: &'static str,
    /// What the reviewer should know.
    pub message: String,
}

/// The diff class of a field, as upstream's reconciler classifies spec changes (§2.3), plus flinkops' own
/// distinctions for metadata and nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffClass {
    /// Labels and annotations: no restart.
    Metadata,
    /// Recorded, used at the next upgrade, triggers nothing now.
    Ignore,
    /// Manual savepoint trigger.
    SavepointTrigger,
    /// Parallelism: in-place rescale when possible, else an upgrade.
    Scale,
    /// `restartNonce`.
    Restart,
    /// Redeploy through the upgrade mode.
    Upgrade,
    /// `savepointRedeployNonce`.
    SavepointRedeploy,
}

/// Field → diff class, by path prefix; first match wins, anything unlisted under `spec` is `Upgrade`.
pub const DIFF_CLASSES: &[(&str, DiffClass)] = &[
    ("metadata", DiffClass::Metadata),
    ("spec.job.upgradeMode", DiffClass::Ignore),
    ("spec.job.initialSavepointPath", DiffClass::Ignore),
    ("spec.job.allowNonRestoredState", DiffClass::Ignore),
    ("spec.job.checkpointTriggerNonce", DiffClass::Ignore),
    ("spec.job.autoscalerResetNonce", DiffClass::Ignore),
    ("spec.job.savepointTriggerNonce", DiffClass::SavepointTrigger),
    ("spec.job.savepointRedeployNonce", DiffClass::SavepointRedeploy),
    ("spec.job.parallelism", DiffClass::Scale),
    ("spec.taskManager.replicas", DiffClass::Scale),
    ("spec.restartNonce", DiffClass::Restart),
];

/// Configuration keys whose changes upstream ignores (operator and autoscaler settings) or treats as scaling.
fn config_class(key: &str) -> DiffClass {
    if key.starts_with("job.autoscaler.") || key.starts_with("kubernetes.operator.") || key == "parallelism.default" {
        DiffClass::Ignore
    } else if key == "pipeline.jobvertex-parallelism-overrides" {
        DiffClass::Scale
    } else {
        DiffClass::Upgrade
    }
}

/// The diff class of a changed field.
pub fn class_of(path: &FieldPath) -> DiffClass {
    if let [Segment::Key(spec), Segment::Key(config), Segment::Key(key), ..] = path.0.as_slice()
        && spec == "spec"
        && config == "flinkConfiguration"
    {
        return config_class(key);
    }
    let text = path.to_string();
    for (prefix, class) in DIFF_CLASSES {
        let prefix_path = FieldPath::parse(prefix);
        if path.starts_with(&prefix_path) {
            return *class;
        }
    }
    if text == "apiVersion" || text == "kind" { DiffClass::Metadata } else { DiffClass::Upgrade }
}

/// What impact analysis looks at. Both sides are normalized and stripped of owned fields ([`super::diff`]).
#[derive(Debug, Clone, Copy)]
pub struct ImpactInput<'a> {
    /// The resource kind.
    pub kind: Kind,
    /// The side before the change (`None`: created).
    pub before: Option<&'a Value>,
    /// The side after the change (`None`: deleted).
    pub after: Option<&'a Value>,
    /// Changed fields.
    pub changes: &'a [Change],
    /// Ignored (owned) fields that differ.
    pub ignored: &'a [IgnoredField],
    /// Whether the job is running now, when known (drift, sync); `None` offline.
    pub job_running: Option<bool>,
}

/// The impact of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// The upgrade path.
    pub upgrade: Upgrade,
    /// What interruption to expect, in words.
    pub interruption: String,
    /// Risks, highest first.
    pub risks: Vec<Risk>,
}

/// Facts read once from both sides, shared by the decision and the risk rules.
#[derive(Debug)]
pub struct Facts<'a> {
    input: ImpactInput<'a>,
    classes: Vec<DiffClass>,
    before_config: BTreeMap<String, String>,
    after_config: BTreeMap<String, String>,
    has_job: bool,
    before_state: Option<&'a str>,
    after_state: Option<&'a str>,
    before_mode: Option<&'a str>,
    after_mode: Option<&'a str>,
    upgrade: Upgrade,
}

impl<'a> Facts<'a> {
    fn new(input: ImpactInput<'a>) -> Self {
        let classes = input.changes.iter().map(|c| class_of(&c.path)).collect();
        let job = |side: Option<&'a Value>, key: &str| {
            side.and_then(|v| v.pointer(&format!("/spec/job/{key}"))).and_then(Value::as_str)
        };
        let has_job = input.after.or(input.before).is_some_and(|v| v.pointer("/spec/job").is_some());
        let mut facts = Facts {
            classes,
            before_config: config(input.before),
            after_config: config(input.after),
            has_job,
            before_state: job(input.before, "state"),
            after_state: job(input.after, "state"),
            before_mode: job(input.before, "upgradeMode"),
            after_mode: job(input.after, "upgradeMode"),
            upgrade: Upgrade::None,
            input,
        };
        facts.upgrade = decide(&facts);
        facts
    }

    fn has(&self, class: DiffClass) -> bool {
        self.classes.contains(&class)
    }

    fn changed(&self, path: &str) -> Option<&Change> {
        let path = FieldPath::parse(path);
        self.input.changes.iter().find(|c| c.path == path)
    }

    fn config_changed(&self, key: &str) -> bool {
        self.before_config.get(key) != self.after_config.get(key)
    }

    fn after_stateful(&self) -> bool {
        self.after_mode.is_some_and(|m| m != "stateless")
    }

    fn before_stateful(&self) -> bool {
        self.before_mode.is_some_and(|m| m != "stateless")
    }

    fn flink_version(side: Option<&Value>) -> Option<FlinkVersion> {
        side.and_then(|v| v.pointer("/spec/flinkVersion")).and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

fn config(side: Option<&Value>) -> BTreeMap<String, String> {
    side.and_then(|v| v.pointer("/spec/flinkConfiguration"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), crate::crd::flink_config::scalar_to_string(v))).collect())
        .unwrap_or_default()
}

/// Computes the upgrade path, the interruption and the risks of one change.
pub fn assess(input: ImpactInput<'_>) -> Impact {
    let facts = Facts::new(input);
    let mut risks: Vec<Risk> = RISK_RULES.iter().filter_map(|(_, rule)| rule(&facts)).collect();
    risks.sort_by(|a, b| b.level.cmp(&a.level).then(a.rule.cmp(b.rule)));
    Impact { upgrade: facts.upgrade, interruption: interruption(&facts), risks }
}

/// The upgrade path (§2.3 diff classes, §2.4 decision by the new spec's mode, §2.5 suspend/resume and nonces).
fn decide(facts: &Facts<'_>) -> Upgrade {
    let input = &facts.input;
    match (input.before, input.after) {
        (None, _) => return Upgrade::Create,
        (_, None) => return Upgrade::Delete,
        _ => {}
    }
    if facts.classes.is_empty() {
        return Upgrade::None;
    }
    // A redeploy nonce wins over everything else, whatever the state (§2.5).
    if facts.has(DiffClass::SavepointRedeploy)
        && facts.changed("spec.job.savepointRedeployNonce").is_some_and(|c| c.to.is_some())
    {
        return Upgrade::SavepointRedeploy;
    }
    match (facts.before_state, facts.after_state) {
        (Some("running"), Some("suspended")) => return Upgrade::Suspend,
        (Some("suspended"), Some("running")) => return Upgrade::Resume,
        // Suspended stays suspended: the spec is recorded, nothing starts.
        (Some("suspended"), Some("suspended")) => {
            return if facts.classes.iter().all(|c| *c == DiffClass::Metadata) {
                Upgrade::MetadataOnly
            } else {
                Upgrade::None
            };
        }
        _ => {}
    }
    // restartNonce: set → null is ignored upstream.
    let restart = facts.changed("spec.restartNonce").is_some_and(|c| c.to.is_some());
    let upgrade = facts.has(DiffClass::Upgrade);
    let scale = facts.has(DiffClass::Scale);
    if upgrade || restart || scale {
        if !facts.has_job {
            // A session cluster has no job of its own; it is redeployed.
            return Upgrade::Restart;
        }
        if !upgrade && !restart && in_place_rescale_possible(facts) {
            return Upgrade::InPlaceRescale;
        }
        if restart && !upgrade && !scale {
            return Upgrade::Restart;
        }
        return match facts.after_mode {
            Some("savepoint") => Upgrade::Savepoint,
            Some("last-state") => Upgrade::LastState,
            _ => Upgrade::Stateless,
        };
    }
    if facts.has(DiffClass::SavepointTrigger)
        && facts.changed("spec.job.savepointTriggerNonce").is_some_and(|c| c.to.is_some())
    {
        return Upgrade::SavepointTrigger;
    }
    // Labels and annotations are applied without a restart; Ignore-class fields are recorded for later.
    if facts.has(DiffClass::Metadata) { Upgrade::MetadataOnly } else { Upgrade::None }
}

/// In-place rescaling (§2.11): FlinkDeployment, Flink ≥ 1.18, adaptive scheduler, not switched off, job running.
fn in_place_rescale_possible(facts: &Facts<'_>) -> bool {
    facts.input.kind == Kind::FlinkDeployment
        && Facts::flink_version(facts.input.after).is_some_and(|v| v.is_at_least(FlinkVersion::v1_18))
        && facts.after_config.get("jobmanager.scheduler").map(String::as_str) == Some("adaptive")
        && config_keys::flag(&facts.after_config, "kubernetes.operator.job.upgrade.inplace-scaling.enabled")
            != Some(false)
        && facts.after_state == Some("running")
}

fn interruption(facts: &Facts<'_>) -> String {
    let mode = facts.after_mode.unwrap_or("stateless");
    match facts.upgrade {
        Upgrade::None => "none: nothing is restarted".to_owned(),
        Upgrade::MetadataOnly => "none: only labels or annotations change; the job keeps running".to_owned(),
        Upgrade::Savepoint => {
            "the job stops with a savepoint, the cluster is redeployed and the job restores from that savepoint; \
             downtime is the savepoint time plus cluster start and restore"
                .to_owned()
        }
        Upgrade::LastState => {
            "the cluster is deleted and redeployed; the job resumes from its latest checkpoint, so records since that \
             checkpoint are processed again"
                .to_owned()
        }
        Upgrade::Stateless => {
            if facts.has_job {
                "the job is cancelled and starts from empty state: all state is lost".to_owned()
            } else {
                "the cluster is redeployed".to_owned()
            }
        }
        Upgrade::InPlaceRescale => {
            "in-place rescale through the adaptive scheduler: tasks restart from the latest checkpoint, no redeploy"
                .to_owned()
        }
        Upgrade::Suspend => format!("the job stops ({mode} suspend) and stays stopped"),
        Upgrade::Resume => "the job starts again from the state kept when it was suspended".to_owned(),
        Upgrade::Restart if !facts.has_job => {
            "the session cluster is redeployed: every session job on it is interrupted and resubmitted".to_owned()
        }
        Upgrade::Restart => format!("the job restarts through a {mode} upgrade"),
        Upgrade::SavepointTrigger => "none: a savepoint is taken while the job keeps running".to_owned(),
        Upgrade::SavepointRedeploy => {
            "the job is cancelled and redeployed from initialSavepointPath; state since that savepoint is lost"
                .to_owned()
        }
        Upgrade::Create => match facts.input.after.and_then(|v| v.pointer("/spec/job/initialSavepointPath")) {
            Some(Value::String(path)) => format!("a new deployment starts from savepoint {path}"),
            _ if facts.has_job => "a new job starts from empty state".to_owned(),
            _ => "a new cluster starts".to_owned(),
        },
        Upgrade::Delete => {
            if config_keys::flag(&facts.before_config, "kubernetes.operator.job.savepoint-on-deletion") == Some(true) {
                "the job stops with a savepoint and its cluster is removed".to_owned()
            } else {
                "the job is cancelled without a savepoint and its cluster is removed".to_owned()
            }
        }
    }
}

type RiskRule = fn(&Facts<'_>) -> Option<Risk>;

fn risk(level: RiskLevel, rule: &'static str, message: impl Into<String>) -> Option<Risk> {
    Some(Risk { level, rule, message: message.into() })
}

/// Every risk rule, by name (the unit tests have one table row per name).
pub const RISK_RULES: &[(&str, RiskRule)] = &[
    ("stateful_to_stateless", stateful_to_stateless),
    ("allow_non_restored_state_enabled", allow_non_restored_state_enabled),
    ("flink_version_changed", flink_version_changed),
    ("max_parallelism_changed", max_parallelism_changed),
    ("savepoint_mode_without_savepoint_dir", savepoint_mode_without_savepoint_dir),
    ("last_state_without_checkpoint_dir", last_state_without_checkpoint_dir),
    ("deletion_without_savepoint", deletion_without_savepoint),
    ("upgrade_mode_changed", upgrade_mode_changed),
    ("autoscaler_owned_field_ignored", autoscaler_owned_field_ignored),
    ("other_manager_field_ignored", other_manager_field_ignored),
    ("immutable_field_changed", immutable_field_changed),
    ("savepoint_falls_back_to_last_state", savepoint_falls_back_to_last_state),
    ("autoscaler_toggled", autoscaler_toggled),
    ("savepoint_redeploy", savepoint_redeploy),
    ("stateless_upgrade_with_checkpointing", stateless_upgrade_with_checkpointing),
    ("in_place_rescale_unavailable", in_place_rescale_unavailable),
    ("session_cluster_redeploy", session_cluster_redeploy),
    ("initial_savepoint_path_not_used", initial_savepoint_path_not_used),
    ("autoscaler_reset", autoscaler_reset),
];

fn stateful_to_stateless(facts: &Facts<'_>) -> Option<Risk> {
    if !(facts.before_stateful() && facts.after_mode == Some("stateless") && facts.before_state == Some("running")) {
        return None;
    }
    if facts.upgrade.redeploys() || facts.upgrade == Upgrade::Suspend {
        risk(
            RiskLevel::High,
            "stateful_to_stateless",
            format!(
                "upgradeMode changes from {} to stateless together with a change that restarts the job: its state is lost",
                facts.before_mode.unwrap_or_default()
            ),
        )
    } else {
        risk(
            RiskLevel::Medium,
            "stateful_to_stateless",
            "upgradeMode becomes stateless: the next upgrade of this running job discards its state",
        )
    }
}

fn allow_non_restored_state_enabled(facts: &Facts<'_>) -> Option<Risk> {
    let change = facts.changed("spec.job.allowNonRestoredState")?;
    if change.to != Some(Value::Bool(true)) {
        return None;
    }
    let level =
        if facts.upgrade.redeploys() || facts.upgrade == Upgrade::Resume { RiskLevel::High } else { RiskLevel::Medium };
    risk(
        level,
        "allow_non_restored_state_enabled",
        "allowNonRestoredState is turned on: state of operators missing from the new job graph is dropped silently",
    )
}

fn flink_version_changed(facts: &Facts<'_>) -> Option<Risk> {
    facts.changed("spec.flinkVersion")?;
    let before = Facts::flink_version(facts.input.before);
    let after = Facts::flink_version(facts.input.after);
    if let (Some(before), Some(after)) = (before, after)
        && after < before
    {
        return risk(
            RiskLevel::High,
            "flink_version_changed",
            format!(
                "Flink is downgraded from {before:?} to {after:?}: savepoints are not readable by older Flink versions"
            ),
        );
    }
    let mut message = "the Flink version changes: check the job and its connectors against the new version".to_owned();
    if facts.after_mode == Some("last-state") {
        message.push_str(
            "; last-state cannot carry HA data across versions, so the operator takes a savepoint instead \
             (a savepoint directory is needed, else the job is cancelled and restored from its last checkpoint)",
        );
    }
    risk(RiskLevel::Medium, "flink_version_changed", message)
}

fn max_parallelism_changed(facts: &Facts<'_>) -> Option<Risk> {
    if !facts.config_changed(config_keys::MAX_PARALLELISM)
        || facts.input.before.is_none()
        || facts.input.after.is_none()
    {
        return None;
    }
    let level = if facts.after_stateful() { RiskLevel::High } else { RiskLevel::Low };
    risk(
        level,
        "max_parallelism_changed",
        "pipeline.max-parallelism changes: keyed state from existing savepoints and checkpoints cannot be restored",
    )
}

fn savepoint_mode_without_savepoint_dir(facts: &Facts<'_>) -> Option<Risk> {
    // Session jobs inherit the directory from their session cluster, which this resource does not show.
    if facts.input.kind != Kind::FlinkDeployment || facts.after_mode != Some("savepoint") {
        return None;
    }
    if config_keys::first(&facts.after_config, config_keys::SAVEPOINT_DIR_KEYS).is_some() {
        return None;
    }
    risk(
        RiskLevel::High,
        "savepoint_mode_without_savepoint_dir",
        "upgradeMode is savepoint but no savepoint directory is configured \
         (execution.checkpointing.savepoint-dir or state.savepoints.dir): the upgrade cannot take a savepoint",
    )
}

fn last_state_without_checkpoint_dir(facts: &Facts<'_>) -> Option<Risk> {
    if facts.input.kind != Kind::FlinkDeployment || facts.after_mode != Some("last-state") {
        return None;
    }
    if config_keys::first(&facts.after_config, config_keys::CHECKPOINT_DIR_KEYS).is_some() {
        return None;
    }
    risk(
        RiskLevel::High,
        "last_state_without_checkpoint_dir",
        "upgradeMode is last-state but no checkpoint directory is configured \
         (execution.checkpointing.dir or state.checkpoints.dir): there is no state to resume from",
    )
}

fn deletion_without_savepoint(facts: &Facts<'_>) -> Option<Risk> {
    if facts.upgrade != Upgrade::Delete {
        return None;
    }
    let savepoint =
        config_keys::flag(&facts.before_config, "kubernetes.operator.job.savepoint-on-deletion") == Some(true);
    if facts.has_job && facts.before_stateful() && !savepoint {
        risk(
            RiskLevel::High,
            "deletion_without_savepoint",
            "the resource is deleted without kubernetes.operator.job.savepoint-on-deletion: the job is cancelled \
             without a final savepoint, and its status (savepoint history) is lost",
        )
    } else {
        risk(
            RiskLevel::Medium,
            "deletion_without_savepoint",
            "the resource is deleted: its job stops and its status, including savepoint history, is lost",
        )
    }
}

fn upgrade_mode_changed(facts: &Facts<'_>) -> Option<Risk> {
    facts.changed("spec.job.upgradeMode")?;
    let mode = facts.after_mode.unwrap_or("stateless");
    if facts.upgrade.redeploys() || matches!(facts.upgrade, Upgrade::Suspend | Upgrade::InPlaceRescale) {
        risk(
            RiskLevel::Low,
            "upgrade_mode_changed",
            format!("upgradeMode changes with this upgrade: the new mode ({mode}) is the one used"),
        )
    } else {
        risk(
            RiskLevel::Low,
            "upgrade_mode_changed",
            format!("upgradeMode becomes {mode}: nothing restarts now; it applies from the next upgrade"),
        )
    }
}

fn autoscaler_owned_field_ignored(facts: &Facts<'_>) -> Option<Risk> {
    let fields: Vec<String> =
        facts.input.ignored.iter().filter(|f| f.owner == Owner::Autoscaler).map(|f| f.path.to_string()).collect();
    if fields.is_empty() {
        return None;
    }
    risk(
        RiskLevel::Low,
        "autoscaler_owned_field_ignored",
        format!(
            "{} changed in Git but the autoscaler owns it while enabled: the Git value is not applied",
            fields.join(", ")
        ),
    )
}

fn other_manager_field_ignored(facts: &Facts<'_>) -> Option<Risk> {
    let fields: Vec<String> =
        facts.input.ignored.iter().filter(|f| f.owner == Owner::OtherManager).map(|f| f.path.to_string()).collect();
    if fields.is_empty() {
        return None;
    }
    risk(
        RiskLevel::Low,
        "other_manager_field_ignored",
        format!("{} is owned by another field manager (e.g. an HPA): the Git value is not applied", fields.join(", ")),
    )
}

/// Upstream's change rules (mode, session/application switch, deploymentName): each error is a change the
/// operator will refuse.
fn immutable_field_changed(facts: &Facts<'_>) -> Option<Risk> {
    let (before, after) = (facts.input.before?, facts.input.after?);
    let findings = crate::validation::validate_change(facts.input.kind, before, after);
    let messages: Vec<String> = findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect();
    if messages.is_empty() {
        return None;
    }
    risk(
        RiskLevel::High,
        "immutable_field_changed",
        format!("the operator will reject this change: {}", messages.join("; ")),
    )
}

fn savepoint_falls_back_to_last_state(facts: &Facts<'_>) -> Option<Risk> {
    if facts.after_mode == Some("savepoint") && facts.input.job_running == Some(false) && facts.upgrade.redeploys() {
        return risk(
            RiskLevel::Medium,
            "savepoint_falls_back_to_last_state",
            "the job is not running, so the savepoint upgrade falls back to last-state \
             (kubernetes.operator.job.upgrade.last-state-fallback.enabled)",
        );
    }
    None
}

fn autoscaler_toggled(facts: &Facts<'_>) -> Option<Risk> {
    let before = config_keys::flag(&facts.before_config, config_keys::AUTOSCALER_ENABLED) == Some(true);
    let after = config_keys::flag(&facts.after_config, config_keys::AUTOSCALER_ENABLED) == Some(true);
    match (facts.input.before.is_some() && facts.input.after.is_some(), before, after) {
        (true, false, true) => risk(
            RiskLevel::Medium,
            "autoscaler_toggled",
            "the autoscaler is turned on: from now on it owns parallelism, and Git's parallelism is only the start",
        ),
        (true, true, false) => risk(
            RiskLevel::Medium,
            "autoscaler_toggled",
            "the autoscaler is turned off: its overrides are dropped and parallelism returns to the value in Git",
        ),
        _ => None,
    }
}

fn savepoint_redeploy(facts: &Facts<'_>) -> Option<Risk> {
    (facts.upgrade == Upgrade::SavepointRedeploy).then_some(())?;
    risk(
        RiskLevel::Medium,
        "savepoint_redeploy",
        "savepointRedeployNonce redeploys from initialSavepointPath: progress since that savepoint is discarded and \
         there is no rollback to the current spec",
    )
}

fn stateless_upgrade_with_checkpointing(facts: &Facts<'_>) -> Option<Risk> {
    let stateless = facts.upgrade == Upgrade::Stateless
        || (matches!(facts.upgrade, Upgrade::Restart | Upgrade::Suspend) && facts.after_mode == Some("stateless"));
    if !(facts.has_job && stateless && !facts.before_stateful()) {
        return None;
    }
    config_keys::first(&facts.after_config, config_keys::CHECKPOINT_DIR_KEYS)?;
    risk(
        RiskLevel::Medium,
        "stateless_upgrade_with_checkpointing",
        "upgradeMode is stateless but checkpointing is configured: this change starts the job from empty state",
    )
}

fn in_place_rescale_unavailable(facts: &Facts<'_>) -> Option<Risk> {
    let only_scale = facts.has(DiffClass::Scale) && !facts.has(DiffClass::Upgrade) && !facts.has(DiffClass::Restart);
    if !only_scale || !facts.has_job || !facts.upgrade.redeploys() {
        return None;
    }
    risk(
        RiskLevel::Low,
        "in_place_rescale_unavailable",
        "this parallelism change redeploys the job; with jobmanager.scheduler: adaptive on Flink 1.18 or later it \
         would rescale in place",
    )
}

fn session_cluster_redeploy(facts: &Facts<'_>) -> Option<Risk> {
    if facts.input.kind == Kind::FlinkDeployment && !facts.has_job && facts.upgrade == Upgrade::Restart {
        return risk(
            RiskLevel::Medium,
            "session_cluster_redeploy",
            "the session cluster is redeployed: every session job running on it is interrupted",
        );
    }
    None
}

fn initial_savepoint_path_not_used(facts: &Facts<'_>) -> Option<Risk> {
    if facts.input.before.is_none() || facts.has(DiffClass::SavepointRedeploy) {
        return None;
    }
    facts.changed("spec.job.initialSavepointPath")?;
    risk(
        RiskLevel::Low,
        "initial_savepoint_path_not_used",
        "initialSavepointPath is only read on the first deployment or with a new savepointRedeployNonce: \
         this change alone restores nothing",
    )
}

fn autoscaler_reset(facts: &Facts<'_>) -> Option<Risk> {
    facts.changed("spec.job.autoscalerResetNonce").filter(|c| c.to.is_some())?;
    risk(RiskLevel::Low, "autoscaler_reset", "autoscalerResetNonce wipes the autoscaler's history and overrides")
}

#[cfg(test)]
mod tests;
