#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs what the tests need (a Flink distribution from PyPI and the
# test job, both cached under .flinkops/), checks formatting and lints, then runs every test tier with nextest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> installing the Flink test bed (cached after the first run)"
scripts/install-flink.sh >/dev/null
scripts/build-test-job.sh >/dev/null

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

echo "==> cargo nextest run"
status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@" || status=$?
else
    cargo test --no-fail-fast "$@" || status=$?
fi

# Every real-Flink test works under a temp dir named flinkops-it-*: none of their Java processes may outlive the
# suite (each test checks its own; this catches a test that died before its check).
leftover=$(pgrep -f 'java.*flinkops-it-' || true)
if [[ -n $leftover ]]; then
    echo "==> Java processes started by the tests are still running: $leftover" >&2
    pkill -KILL -f 'java.*flinkops-it-' || true
    status=1
else
    echo "==> no Java process started by the tests is left running"
fi
exit $status
