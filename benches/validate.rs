//! Benchmark: `flinkops validate` over a repository of 10,000 manifests (target: under 2 s in release mode).
//! Run with `cargo bench --bench validate`; results are recorded in docs/benchmarks.md.

use std::time::Instant;

use flinkops::manifests::load::{discover, load_paths};

const MANIFESTS: usize = 10_000;

fn deployment(index: usize) -> String {
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
  image: registry.example.com/flink/job-{index}:1.{index}
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
    upgradeMode: savepoint
    state: running
"#,
        team = index % 50,
        parallelism = 1 + index % 16,
    )
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for index in 0..MANIFESTS {
        let team_dir = dir.path().join(format!("team-{}", index % 50));
        std::fs::create_dir_all(&team_dir).expect("create directory");
        std::fs::write(team_dir.join(format!("job-{index}.yaml")), deployment(index)).expect("write manifest");
    }
    let mut timings = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let files = discover(&[dir.path().to_path_buf()]).expect("discover");
        let set = load_paths(&files);
        let elapsed = start.elapsed();
        assert_eq!(set.manifests.len(), MANIFESTS);
        assert_eq!(set.error_count(), 0, "{:?}", set.problems.first());
        timings.push(elapsed.as_secs_f64());
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "validate {MANIFESTS} manifests ({} files): min {:.3} s, median {:.3} s, max {:.3} s ({:.1} µs per manifest)",
        MANIFESTS,
        timings[0],
        timings[timings.len() / 2],
        timings[timings.len() - 1],
        timings[timings.len() / 2] * 1e6 / MANIFESTS as f64
    );
}
