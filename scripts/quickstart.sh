#!/usr/bin/env bash
# The quickstart: installs Flink and the example job locally (cached under .flinkops/), builds flinkops, and runs it
# on the bundled examples-repo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-flink.sh >/dev/null
scripts/build-test-job.sh >/dev/null
cargo build --quiet --bin flinkops
exec target/debug/flinkops validate examples-repo "$@"
