#!/usr/bin/env bash
# Installs an Apache Flink distribution for flinkops' local test bed, without touching the system.
#
# Source: the PyPI wheel `apache-flink-libraries`, which holds a complete Flink runtime under pyflink/
# (lib/, opt/, plugins/, bin/bash-java-utils.jar; no conf/ and no bin/*.sh, which flinkops does not need).
#   wheel cache:  <repo>/.flinkops/cache/apache_flink_libraries-<version>-*.whl
#   FLINK_HOME:   <repo>/.flinkops/flink-<version>/
# A marker file written last makes a second run instant; a half-finished run (no marker) is redone.
# The FLINK_HOME path is printed on stdout as the last line; progress goes to stderr.
#
# Environment overrides:
#   FLINK_VERSION      (default below)     version of apache-flink-libraries to install
#   FLINKOPS_STATE_DIR (default <repo>/.flinkops)
#   PIP                (default: python3 -m pip)
set -euo pipefail

FLINK_VERSION=${FLINK_VERSION:-2.3.0}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE_DIR=${FLINKOPS_STATE_DIR:-$REPO_ROOT/.flinkops}
CACHE_DIR=$STATE_DIR/cache
FLINK_HOME=$STATE_DIR/flink-$FLINK_VERSION
MARKER=$FLINK_HOME/.flinkops-install-complete

log() { printf 'install-flink: %s\n' "$*" >&2; }
die() { printf 'install-flink: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -f $MARKER ]]; then
    log "Flink $FLINK_VERSION already installed"
    echo "$FLINK_HOME"
    exit 0
fi

command -v unzip >/dev/null || die "'unzip' is required (apt-get install unzip)"
if [[ -n ${PIP:-} ]]; then
    read -r -a pip_cmd <<<"$PIP"
else
    command -v python3 >/dev/null || die "python3 is required to download the Flink wheel with pip"
    pip_cmd=(python3 -m pip)
fi
command -v java >/dev/null || log "warning: 'java' not found on PATH; Flink needs Java 17 to run"

mkdir -p "$CACHE_DIR"

# The wheel is pure Python packaging (py2.py3-none-any), so exactly one file matches per version.
find_wheel() { compgen -G "$CACHE_DIR/apache_flink_libraries-$FLINK_VERSION-*.whl" | head -n 1 || true; }

wheel=$(find_wheel)
if [[ -n $wheel ]] && ! unzip -tq "$wheel" >/dev/null 2>&1; then
    log "cached wheel $wheel is corrupt; downloading again"
    rm -f "$wheel"
    wheel=""
fi
if [[ -z $wheel ]]; then
    log "downloading apache-flink-libraries==$FLINK_VERSION (~330 MB) into $CACHE_DIR"
    # Download into a temp dir first so an interrupted download never looks like a cached wheel.
    download_dir=$(mktemp -d "$CACHE_DIR/download.XXXXXX")
    trap 'rm -rf "$download_dir"' EXIT
    if ! "${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: \
        "apache-flink-libraries==$FLINK_VERSION" -d "$download_dir" >&2; then
        die "pip could not download apache-flink-libraries==$FLINK_VERSION (does that version exist on PyPI? is PyPI reachable?)"
    fi
    downloaded=$(compgen -G "$download_dir/apache_flink_libraries-$FLINK_VERSION-*.whl" | head -n 1 || true)
    [[ -n $downloaded ]] || die "pip finished but no apache_flink_libraries-$FLINK_VERSION wheel appeared in $download_dir"
    mv "$downloaded" "$CACHE_DIR/"
    rm -rf "$download_dir"
    trap - EXIT
    wheel=$(find_wheel)
fi

log "unpacking $(basename "$wheel") into $FLINK_HOME"
rm -rf "$FLINK_HOME"
unpack_dir=$(mktemp -d "$STATE_DIR/unpack.XXXXXX")
trap 'rm -rf "$unpack_dir"' EXIT
unzip -q "$wheel" 'pyflink/*' -d "$unpack_dir" || die "unzip of $wheel failed"
dist_jar=$(compgen -G "$unpack_dir/pyflink/lib/flink-dist-*.jar" | head -n 1 || true)
[[ -n $dist_jar ]] || die "the wheel has no pyflink/lib/flink-dist-*.jar; is apache-flink-libraries $FLINK_VERSION a full distribution?"
[[ -f $unpack_dir/pyflink/bin/bash-java-utils.jar ]] || die "the wheel has no pyflink/bin/bash-java-utils.jar"
mv "$unpack_dir/pyflink" "$FLINK_HOME"
rm -rf "$unpack_dir"
trap - EXIT

# Written last: its presence means the unpacked tree is complete.
printf 'version=%s\nwheel=%s\n' "$FLINK_VERSION" "$(basename "$wheel")" >"$MARKER"
log "installed Flink $FLINK_VERSION"
echo "$FLINK_HOME"
