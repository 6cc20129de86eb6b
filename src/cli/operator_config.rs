//! The operator's own configuration file (`--config FILE` or `FLINKOPS_CONFIG`), as the Helm chart renders it into
//! `flinkops.yaml`: the servers it runs on a cluster (webhook, health, metrics), leader election, the watched
//! namespaces and the Flink jobs' service account. Every field is optional; flags win over the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `flinkops.yaml`. Keys the operator does not use (the chart also renders the Git settings it passes as flags) are
/// accepted and ignored, so the chart and the binary can evolve separately.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct OperatorConfig {
    /// Namespaces to watch; empty: all.
    pub(super) watch_namespaces: Vec<String>,
    /// Service account of the Flink pods when a `FlinkDeployment` names none.
    pub(super) job_service_account: Option<String>,
    /// The validating admission webhook.
    pub(super) webhook: WebhookSettings,
    /// `/metrics`.
    pub(super) metrics: PortSettings,
    /// `/healthz` and `/readyz`.
    pub(super) health: PortSettings,
    /// Leader election on a Lease.
    pub(super) leader_election: LeaderElectionSettings,
    /// The Git source (the chart passes URL, branch, path and interval as flags; `prune` is read here).
    pub(super) git: GitSettings,
}

/// `git:` of [`OperatorConfig`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct GitSettings {
    /// Delete resources whose manifests left Git (after a savepoint); off by default.
    pub(super) prune: bool,
}

/// `webhook:` of [`OperatorConfig`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct WebhookSettings {
    /// Serve the webhook.
    pub(super) enabled: bool,
    /// HTTPS port.
    pub(super) port: u16,
    /// Directory with `tls.crt` and `tls.key`.
    pub(super) cert_dir: PathBuf,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings { enabled: false, port: 9443, cert_dir: PathBuf::from("/etc/flinkops/webhook") }
    }
}

/// A port of a plain-HTTP endpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct PortSettings {
    /// The port; `None` takes the default.
    pub(super) port: Option<u16>,
}

/// `leaderElection:` of [`OperatorConfig`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct LeaderElectionSettings {
    /// Elect a leader (the chart turns it on with more than one replica).
    pub(super) enabled: bool,
    /// Namespace of the Lease (default: `POD_NAMESPACE`, else `default`).
    pub(super) lease_namespace: Option<String>,
    /// Name of the Lease.
    pub(super) lease_name: Option<String>,
}

/// Default port of `/healthz` and `/readyz` (the chart's `operatorHealth.port`).
pub(super) const DEFAULT_HEALTH_PORT: u16 = 8085;
/// Default port of `/metrics` (the chart's `metrics.port`).
pub(super) const DEFAULT_METRICS_PORT: u16 = 9090;

/// Reads the file; a missing file named by the caller is an error, as is one that does not parse (with its line and
/// field).
pub(super) fn load(path: &Path) -> Result<OperatorConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    crate::manifests::yaml::from_str::<OperatorConfig>(&text).map_err(|e| format!("{}:{e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charts_rendering_is_read_and_unknown_keys_are_ignored() {
        let text = r#"
git:
  url: "https://git.example.com/platform.git"
  branch: "main"
  prune: true
watchNamespaces: ["team-a","team-b"]
jobServiceAccount: "flink"
webhook:
  enabled: true
  port: 9443
  certDir: /etc/flinkops/webhook
metrics:
  port: 9090
health:
  port: 8085
leaderElection:
  enabled: true
  leaseNamespace: flinkops
  leaseName: "release-flinkops-leader"
logFormat: "json"
"#;
        let config: OperatorConfig = crate::manifests::yaml::from_str(text).expect("parses");
        assert_eq!(config.watch_namespaces, ["team-a", "team-b"]);
        assert_eq!(config.job_service_account.as_deref(), Some("flink"));
        assert!(config.webhook.enabled);
        assert_eq!(config.health.port, Some(8085));
        assert_eq!(config.leader_election.lease_name.as_deref(), Some("release-flinkops-leader"));
        assert!(config.git.prune);
    }

    #[test]
    fn an_empty_file_is_every_default() {
        let config: OperatorConfig = crate::manifests::yaml::from_str("{}").expect("parses");
        assert_eq!(config, OperatorConfig::default());
        assert!(!config.webhook.enabled);
    }

    #[test]
    fn a_wrong_type_names_the_line_and_field() {
        let error = crate::manifests::yaml::from_str::<OperatorConfig>("webhook:\n  port: many\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("2:") && message.contains("webhook.port"), "{message}");
    }
}
