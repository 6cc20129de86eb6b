#!/usr/bin/env bash
# The quickstart: installs Flink and the example job locally (cached under .flinkops/), builds flinkops, and runs
# the bundled examples-repo/ with real local Flink processes. Ctrl-C stops flinkops; add --stop-jobs-on-exit to
# stop the Flink processes too (otherwise the next run adopts them). QUICKSTART_STATE_DIR moves its state
# (default .flinkops/quickstart); tests/quickstart.rs runs this script as a reader would.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-flink.sh >/dev/null
jar=$(scripts/build-test-job.sh)
# examples-repo names the jar as the Flink image would hold it (local:///opt/flink/usrlib/...); locally that
# image's filesystem is emulated under .flinkops/image.
mkdir -p .flinkops/image/opt/flink/usrlib
cp "$jar" .flinkops/image/opt/flink/usrlib/flinkops-test-job.jar
cargo build --quiet --bin flinkops
echo "flinkops: validating examples-repo"
target/debug/flinkops validate examples-repo
state_dir=${QUICKSTART_STATE_DIR:-.flinkops/quickstart}
echo "flinkops: running examples-repo (flinkops status --state-dir $state_dir shows progress)"
exec target/debug/flinkops run --local --repo examples-repo --state-dir "$state_dir" \
    --image-root .flinkops/image "$@"
