//! Shared by the benchmarks: a realistic FlinkDeployment manifest (about 45 lines, with a pod template,
//! configuration, resources and a job), where manifest number `index` lives, and committing a working tree.

use git2::{IndexAddOption, Repository, Signature};

/// The file of manifest number `index`: 50 team directories under `apps/`.
#[allow(dead_code)] // not every benchmark builds a Git repository
pub fn path_of(index: usize) -> String {
    format!("apps/team-{}/job-{index}.yaml", index % 50)
}

/// Commits every file of the working tree on the current branch.
#[allow(dead_code)]
pub fn commit_all(repo: &Repository, message: &str) {
    let mut index = repo.index().expect("index");
    index.add_all(["*"], IndexAddOption::DEFAULT, None).expect("add");
    index.write().expect("write index");
    let tree = repo.find_tree(index.write_tree().expect("write tree")).expect("tree");
    let signature = Signature::now("bench", "bench@example.com").expect("signature");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).expect("commit");
}

/// Manifest number `index`, with an image version and an upgrade mode that revisions can vary.
pub fn deployment(index: usize, image_version: usize, mode: &str) -> String {
    format!(
        r#"# Team {team}: job {index}
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: job-{index}
  namespace: team-{team}
  labels:
    app.kubernetes.io/part-of: "platform"
spec:
  flinkVersion: v2_1
  image: registry.example.com/flink/job-{index}:1.{image_version}
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    execution.checkpointing.dir: s3://state/{index}/checkpoints
    execution.checkpointing.savepoint-dir: s3://state/{index}/savepoints
    execution.checkpointing.interval: 30s
    kubernetes.operator.periodic.savepoint.interval: 6h
    pipeline.max-parallelism: "720"
  jobManager:
    resource:
      memory: 2048m
      cpu: 1
  taskManager:
    resource:
      memory: 4g
      cpu: 2
  podTemplate:
    spec:
      containers:
        - name: flink-main-container
          env:
            - name: TEAM
              value: "{team}"
  job:
    jarURI: local:///opt/flink/usrlib/job.jar
    entryClass: com.example.Job{index}
    args: ["--input", "topic-{index}", "--parallelism", "4"]
    parallelism: {parallelism}
    upgradeMode: {mode}
    state: running
"#,
        team = index % 50,
        parallelism = 1 + index % 16,
    )
}
