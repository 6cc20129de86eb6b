//! Compatibility corpus: upstream's example manifests and the user guide's examples must load with flinkops.

mod common;

use flinkops::manifests::load::{discover, load_paths, load_texts};
use flinkops::validation::Severity;

#[test]
fn every_upstream_example_validates_without_findings() {
    let dir = common::shared_dir().join("compat/upstream-examples");
    let files =
        discover(std::slice::from_ref(&dir)).unwrap_or_else(|e| panic!("{e} (is ../shared beside the repository?)"));
    let set = load_paths(&files);
    let problems: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "upstream examples must validate cleanly:\n{}", problems.join("\n"));
    assert!(set.manifests.len() >= 20, "only {} Flink resources found in {}", set.manifests.len(), dir.display());
    // Non-Flink documents in the corpus (Secrets, HPAs, kustomize inputs) are reported as skipped, with a reason.
    assert!(set.skipped.iter().any(|s| s.kind.as_deref() == Some("HorizontalPodAutoscaler")));
    assert!(set.skipped.iter().any(|s| s.kind.as_deref() == Some("FlinkStateSnapshot")));
}

/// The YAML blocks of the user guide that hold Flink resources.
fn guide_examples() -> Vec<(String, String)> {
    let guide = common::shared_dir().join("seed/flink-kubernetes-operator-guide.md");
    let text = std::fs::read_to_string(&guide).unwrap_or_else(|e| panic!("{}: {e}", guide.display()));
    let mut examples = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```yaml\n").or_else(|| rest.find("```yml\n")) {
        let body_start = start + rest[start..].find('\n').unwrap() + 1;
        let Some(length) = rest[body_start..].find("```") else { break };
        let body = &rest[body_start..body_start + length];
        if body.lines().any(|line| line == "kind: FlinkDeployment" || line == "kind: FlinkSessionJob") {
            examples.push((format!("guide-example-{}.yaml", examples.len() + 1), body.to_owned()));
        }
        rest = &rest[body_start + length + 3..];
    }
    examples
}

#[test]
fn every_user_guide_example_loads_and_only_upstream_rules_object() {
    let examples = guide_examples();
    assert!(examples.len() >= 5, "found only {} Flink examples in the guide", examples.len());
    let set = load_texts(examples.iter().map(|(name, body)| (name.clone(), Ok(body.clone().into_bytes()))));
    assert_eq!(set.manifests.len(), examples.len());
    // No syntax, schema or type errors: the guide's manifests are well-formed v1beta1 objects.
    let structural: Vec<String> = set
        .problems
        .iter()
        .filter(|p| {
            p.message.contains("YAML syntax") || p.message.contains("unknown field") || p.message.contains("expected ")
        })
        .map(ToString::to_string)
        .collect();
    assert!(structural.is_empty(), "{}", structural.join("\n"));
    // `stateful` is accepted as an alias of last-state, with a warning.
    assert!(set.problems.iter().any(|p| p.severity == Severity::Warning && p.message.contains("`stateful`")));
    // What remains are the findings upstream's validator makes too: the autoscaling example is a fragment
    // (no flinkVersion, memory or serviceAccount) and the SQL example asks for savepoint upgrades without a
    // savepoint directory. Pin them so a change in behaviour is seen.
    let mut errors: Vec<(String, String)> = set
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| (p.file.clone(), p.path.clone()))
        .collect();
    errors.sort();
    let expected = [
        ("guide-example-4.yaml", "spec.flinkVersion"),
        ("guide-example-4.yaml", "spec.job.upgradeMode"),
        ("guide-example-4.yaml", "spec.jobManager.resource.memory"),
        ("guide-example-4.yaml", "spec.serviceAccount"),
        ("guide-example-4.yaml", "spec.taskManager.resource.memory"),
        ("guide-example-5.yaml", "spec.job.upgradeMode"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(f, p)| (f.to_string(), p.to_string())).collect();
    assert_eq!(errors, expected, "{:#?}", set.problems);
}

#[test]
fn examples_repo_validates_cleanly() {
    let files = discover(&[common::repo_root().join("examples-repo")]).unwrap();
    let set = load_paths(&files);
    let problems: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(set.manifests.len() >= 5, "the quickstart repository holds {} resources", set.manifests.len());
}
