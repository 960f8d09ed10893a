#!/usr/bin/env bash
# The project's test command (make test, and so .ci/run): starts a real OpenSearch node, a
# second node with a tiny write queue (real 429s), and moto's AWS emulator, runs the unit
# tests with the race detector and then every test against those real parts, and stops what
# it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO="${GO:-go}"
# As the Makefile: what ships is built with Go's simd experiment (docscan's vector loop).
export GOEXPERIMENT="${GOEXPERIMENT-simd}"
MAIN_PORT="${WEIR_OS_PORT:-19200}"
THROTTLED_PORT="${WEIR_OS_THROTTLED_PORT:-19201}"
started=()

cleanup() {
  for s in "${started[@]}"; do
    case "$s" in
      os-main) WEIR_OS_PORT="$MAIN_PORT" scripts/opensearch.sh stop || true ;;
      os-throttled) WEIR_OS_PORT="$THROTTLED_PORT" scripts/opensearch.sh stop || true ;;
      moto) scripts/moto.sh stop || true ;;
    esac
  done
}
trap cleanup EXIT

start_node() { # name port [write-queue]
  local name="$1" port="$2" queue="${3:-}"
  if WEIR_OS_PORT="$port" scripts/opensearch.sh status >/dev/null 2>&1; then
    echo "test.sh: reusing the OpenSearch node already running on $port"
  else
    WEIR_OS_PORT="$port" WEIR_OS_WRITE_QUEUE="$queue" scripts/opensearch.sh start
    started+=("$name")
  fi
}

echo "== lint"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))"
if [[ -n "$unformatted" ]]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
$GO vet ./...

echo "== deploy check (cfn-lint, hadolint, systemd-analyze, weir validate, policy tests)"
scripts/deploy-check.sh

echo "== unit tests (race detector; integration tests skip without the substrate)"
env -u WEIR_TEST_OPENSEARCH -u WEIR_TEST_AWS -u WEIR_TEST_OPENSEARCH_THROTTLED \
  $GO test -race -count=1 -timeout 20m ./...
echo "== the JSON validator without the simd experiment (the fallback loop)"
GOEXPERIMENT= $GO vet ./pipeline/docscan/
GOEXPERIMENT= $GO test -count=1 ./pipeline/docscan/

echo "== starting the test substrate"
start_node os-main "$MAIN_PORT"
start_node os-throttled "$THROTTLED_PORT" 1
if scripts/moto.sh status >/dev/null 2>&1; then echo "test.sh: reusing moto"; else scripts/moto.sh start; started+=(moto); fi

export WEIR_TEST_OPENSEARCH="http://127.0.0.1:$MAIN_PORT"
export WEIR_TEST_OPENSEARCH_THROTTLED="http://127.0.0.1:$THROTTLED_PORT"
export WEIR_TEST_AWS="$(scripts/moto.sh url)"

echo "== all tests against the real OpenSearch node and moto"
# -p 1: every package shares one node and one moto; packages hammering them at once starve
# each other's time-bound steps (visibility timeouts, lease renewals) on two cores.
$GO test -p 1 -count=1 -timeout 40m ./...
