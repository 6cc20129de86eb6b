//! Benchmark: write-back of 100 savepoint records in one cycle to a 10,000-manifest repository: one commit,
//! pushed to a bare remote on disk (target: under 2 s, release mode). Run with `cargo bench --bench writeback`;
//! results are recorded in docs/writeback.md and docs/benchmarks.md.
//!
//! Building the repository and the write-back clone's first fetch are not part of the measured cycles (the first
//! cycle is reported separately). Each measured cycle fetches, locates the 100 manifests, edits them, commits and
//! pushes.

use std::path::Path;
use std::time::Instant;

mod common;

use common::{commit_all, deployment, path_of};
use flinkops::crd::Kind;
use flinkops::git::{Credentials, HostKeyPolicy, PathFilter, Reference, SourceConfig};
use flinkops::writeback::{SavepointRecord, WriteBack, WriteBackConfig};
use git2::{Repository, RepositoryInitOptions};

const MANIFESTS: usize = 10_000;
const RECORDS: usize = 100;
const RUNS: usize = 5;

fn build_remote(dir: &Path) -> std::path::PathBuf {
    let work = dir.join("work");
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = Repository::init_opts(&work, &options).expect("git init");
    for index in 0..MANIFESTS {
        let path = work.join(path_of(index));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create directory");
        std::fs::write(path, deployment(index, index, "savepoint")).expect("write manifest");
    }
    commit_all(&repo, "base");
    let remote = dir.join("remote.git");
    let mut bare = RepositoryInitOptions::new();
    bare.bare(true).initial_head("main");
    Repository::init_opts(&remote, &bare).expect("git init --bare");
    let mut push = repo.remote_anonymous(remote.to_str().expect("utf-8 path")).expect("remote");
    push.push(&["refs/heads/main:refs/heads/main"], None).expect("push");
    remote
}

fn records(cycle: i64) -> Vec<SavepointRecord> {
    (0..RECORDS)
        .map(|n| {
            let index = n * (MANIFESTS / RECORDS) + 3;
            SavepointRecord {
                kind: Kind::FlinkDeployment,
                namespace: format!("team-{}", index % 50),
                name: format!("job-{index}"),
                location: format!("s3://state/{index}/savepoints/savepoint-{cycle:06}"),
                time_ms: 1_795_000_000_000 + cycle * 60_000,
                trigger: "periodic".into(),
                job_id: Some(format!("{:032x}", 0xabc0_0000 + index as i64 * 1000 + cycle)),
            }
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let start = Instant::now();
    let remote = build_remote(dir.path());
    println!("built a {MANIFESTS}-manifest remote in {:.1} s (not measured)", start.elapsed().as_secs_f64());
    let source = SourceConfig {
        url: remote.to_str().expect("utf-8 path").to_owned(),
        reference: Reference::Branch("main".into()),
        credentials: Credentials::None,
        host_keys: HostKeyPolicy::InsecureAcceptAny,
        filter: PathFilter::default(),
        cache_dir: dir.path().join("unused"),
    };
    let mut writeback =
        WriteBack::open(&source, &dir.path().join("state/writeback"), WriteBackConfig::default()).expect("open");
    let start = Instant::now();
    let first = writeback.write(&records(0)).expect("first cycle");
    assert_eq!(first.written.len(), RECORDS);
    println!("first cycle (includes the initial fetch of the repository): {:.3} s", start.elapsed().as_secs_f64());

    let mut timings = Vec::new();
    for cycle in 1..=RUNS as i64 {
        let start = Instant::now();
        let outcome = writeback.write(&records(cycle)).expect("write-back cycle");
        let elapsed = start.elapsed().as_secs_f64();
        assert!(outcome.commit.is_some(), "one commit per cycle");
        assert_eq!(outcome.written.len(), RECORDS, "{:?}", outcome.skipped.first());
        assert_eq!(outcome.attempts, 1);
        timings.push(elapsed);
    }
    let repo = Repository::open_bare(&remote).expect("remote");
    let mut walk = repo.revwalk().expect("revwalk");
    walk.push_ref("refs/heads/main").expect("main");
    assert_eq!(walk.count(), RUNS + 2, "base + first cycle + one commit per measured cycle");
    timings.sort_by(f64::total_cmp);
    let (min, median, max) = (timings[0], timings[RUNS / 2], timings[RUNS - 1]);
    println!(
        "write-back of {RECORDS} savepoints to a {MANIFESTS}-file repository, one commit: min {min:.3} s, \
         median {median:.3} s, max {max:.3} s"
    );
    assert!(median < 2.0, "write-back took {median:.3} s (target < 2 s)");
}
