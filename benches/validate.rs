//! Benchmark: `flinkops validate` over a repository of 10,000 manifests (target: under 2 s in release mode).
//! Run with `cargo bench --bench validate`; results are recorded in docs/benchmarks.md.

use std::time::Instant;

mod common;

use flinkops::manifests::load::{discover, load_paths};

const MANIFESTS: usize = 10_000;

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for index in 0..MANIFESTS {
        let team_dir = dir.path().join(format!("team-{}", index % 50));
        std::fs::create_dir_all(&team_dir).expect("create directory");
        std::fs::write(team_dir.join(format!("job-{index}.yaml")), common::deployment(index, index, "savepoint"))
            .expect("write manifest");
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
