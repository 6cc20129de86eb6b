#!/usr/bin/env bash
# Builds flinkops' stateful test job (e2e/flink-job) into <repo>/.flinkops/test-job/flinkops-test-job.jar.
#
# Compiles with javac against the Flink distribution installed by scripts/install-flink.sh (installs it
# first if needed; that is idempotent). Rebuilds only when a source file or the manifest is newer than
# the jar, or FLINK_HOME changed. Prints the jar path on stdout as the last line; progress goes to stderr.
#
# Environment overrides:
#   FLINK_HOME          use this distribution instead of running install-flink.sh
#   FLINKOPS_STATE_DIR  (default <repo>/.flinkops)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE_DIR=${FLINKOPS_STATE_DIR:-$REPO_ROOT/.flinkops}
JOB_DIR=$REPO_ROOT/e2e/flink-job
OUT_DIR=$STATE_DIR/test-job
JAR=$OUT_DIR/flinkops-test-job.jar
STAMP=$OUT_DIR/flink-home.txt

log() { printf 'build-test-job: %s\n' "$*" >&2; }
die() { printf 'build-test-job: ERROR: %s\n' "$*" >&2; exit 1; }

command -v javac >/dev/null || die "'javac' is required (a JDK 17, e.g. apt-get install openjdk-17-jdk-headless)"
command -v jar >/dev/null || die "'jar' is required (part of the JDK)"
[[ -d $JOB_DIR/src ]] || die "test job sources not found at $JOB_DIR/src"

if [[ -z ${FLINK_HOME:-} ]]; then
    FLINK_HOME=$("$SCRIPT_DIR/install-flink.sh" | tail -n 1)
fi
[[ -d $FLINK_HOME/lib ]] || die "FLINK_HOME=$FLINK_HOME has no lib/ directory"

up_to_date() {
    [[ -f $JAR && -f $STAMP ]] || return 1
    [[ $(cat "$STAMP") == "$FLINK_HOME" ]] || return 1
    # Any source or the manifest newer than the jar means a rebuild.
    [[ -z $(find "$JOB_DIR" -type f -newer "$JAR" -print -quit) ]]
}

if up_to_date; then
    log "up to date"
    echo "$JAR"
    exit 0
fi

mapfile -t sources < <(find "$JOB_DIR/src" -name '*.java' | sort)
[[ ${#sources[@]} -gt 0 ]] || die "no .java files under $JOB_DIR/src"

mkdir -p "$OUT_DIR"
build_dir=$(mktemp -d "$OUT_DIR/build.XXXXXX")
trap 'rm -rf "$build_dir"' EXIT
log "compiling ${#sources[@]} source files against $FLINK_HOME/lib"
javac -nowarn --release 17 -encoding UTF-8 -d "$build_dir/classes" -cp "$FLINK_HOME/lib/*" "${sources[@]}" \
    || die "javac failed"
# Write to a temp name and rename, so a failed build never leaves a truncated jar that looks fresh.
jar --create --file "$build_dir/job.jar" --manifest "$JOB_DIR/manifest.txt" -C "$build_dir/classes" . \
    || die "jar failed"
mv "$build_dir/job.jar" "$JAR"
printf '%s\n' "$FLINK_HOME" >"$STAMP"
log "built $JAR"
echo "$JAR"
