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
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
else
    cargo test --no-fail-fast "$@"
fi
