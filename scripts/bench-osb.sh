#!/usr/bin/env bash
# Checks `weir bench` against opensearch-benchmark (OSB) on the local node: both index the
# same generated corpus with the same bulk size and client count, and both report docs/s.
#
#   scripts/bench-osb.sh install        # OSB into a venv under .cache/osb (PyPI)
#   scripts/bench-osb.sh run            # corpus, OSB run, weir bench run, both figures
#
# Environment: OSB_VERSION (2.4.0), OSB_DOCS (600000 documents in the corpus), OSB_BULK
# (1000), OSB_CLIENTS (4), OSB_WARMUP (0 s), WEIR_OS_PORT (19200). The node must be running
# (scripts/opensearch.sh start). Results go to bench/out/osb-*.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
VERSION="${OSB_VERSION:-2.4.0}"
DOCS="${OSB_DOCS:-600000}"
BULK="${OSB_BULK:-1000}"
CLIENTS="${OSB_CLIENTS:-4}"
WARMUP="${OSB_WARMUP:-0}"
PORT="${WEIR_OS_PORT:-19200}"
CACHE="$ROOT/.cache/osb"
VENV="$CACHE/venv"
WL="$CACHE/workload"
OUT="$ROOT/bench/out"

log() { echo "bench-osb.sh: $*" >&2; }

install() {
  if [[ -x "$VENV/bin/opensearch-benchmark" ]]; then return 0; fi
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "opensearch-benchmark==$VERSION"
  log "installed $("$VENV/bin/opensearch-benchmark" --version 2>&1 | tail -1)"
}

workload() {
  mkdir -p "$WL" "$OUT"
  "$GO" build -trimpath -o "$ROOT/bin/bench/weir" ./cmd/weir
  local corpus="$WL/docs.json"
  if [[ ! -f "$corpus" || "$(wc -l <"$corpus")" != "$DOCS" ]]; then
    rm -f "$WL"/docs.json*
    "$ROOT/bin/bench/weir" bench --write-corpus "$corpus" --docs "$DOCS" >&2
  fi
  local bytes
  bytes="$(stat -c %s "$corpus")"
  cat >"$WL/index.json" <<'JSON'
{"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}}}
JSON
  # One bulk task over the whole corpus after a warm-up, like weir bench's generated load:
  # auto ids, no action lines in the file (OSB writes {"index":{"_index":...}} itself).
  cat >"$WL/workload.json" <<JSON
{
  "version": 2,
  "description": "weir bench's generated corpus (~1 KiB log documents, 12 fields + @timestamp)",
  "indices": [{"name": "weir-osb", "body": "index.json"}],
  "corpora": [{"name": "weir", "documents": [
    {"source-file": "docs.json", "document-count": $DOCS, "uncompressed-bytes": $bytes, "target-index": "weir-osb"}
  ]}],
  "schedule": [
    {"operation": {"operation-type": "delete-index"}},
    {"operation": {"operation-type": "create-index"}},
    {"operation": {"operation-type": "cluster-health", "request-params": {"wait_for_status": "yellow"}, "retry-until-success": true}},
    {"operation": {"name": "bulk", "operation-type": "bulk", "bulk-size": {{bulk_size | default($BULK)}}},
     "warmup-time-period": {{warmup | default($WARMUP)}}, "clients": {{clients | default($CLIENTS)}}}
  ]
}
JSON
}

run() {
  install
  workload
  local stamp osb_log="$HOME/.osb/logs/benchmark.log"
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  : >"$osb_log" 2>/dev/null || true
  log "load average before OSB: $(cut -d' ' -f1-3 /proc/loadavg)"
  if "$VENV/bin/opensearch-benchmark" run --offline --pipeline=benchmark-only \
    --target-hosts="127.0.0.1:$PORT" --workload-path="$WL" \
    --workload-params="bulk_size:$BULK,clients:$CLIENTS,warmup:$WARMUP" \
    --kill-running-processes --results-format=markdown --results-file="$OUT/osb-$stamp.md" \
    --show-in-results=all >"$OUT/osb-$stamp.log" 2>&1; then
    grep -E "Throughput \| *bulk|Latency \| *bulk" "$OUT/osb-$stamp.md" || true
  else
    # OSB 2.4.0 indexes the corpus but may fail to summarise it ("must be real number, not
    # NoneType" in _publish_throughput: no throughput samples). Its log still has each
    # worker's run duration, which gives the mean rate over the whole corpus.
    log "OSB failed: $(grep -m1 -E 'ERROR.*Cannot run|Error in test run' "$OUT/osb-$stamp.log" | tr -d '\033' || true)"
    cp "$osb_log" "$OUT/osb-$stamp.benchmark.log" 2>/dev/null || true
  fi
  local dur
  # The bulk task is the last: the durations logged after its clients were allocated.
  dur="$(sed -n '/will bulk index/,$p' "$osb_log" | grep -oE 'Total run duration: [0-9.]+' | awk '{print $4}' | sort -n | tail -1)"
  if [[ -n "$dur" ]]; then
    log "OSB: $DOCS documents in ${dur}s (slowest worker) = $(awk -v n="$DOCS" -v d="$dur" 'BEGIN{printf "%.0f", n/d}') docs/s mean"
  fi
  log "load average after OSB: $(cut -d' ' -f1-3 /proc/loadavg)"
  curl -s -XDELETE "http://127.0.0.1:$PORT/weir-osb" >/dev/null || true
  # weir bench on the same corpus (the same generated documents, in the same order), bulk
  # size, clients and warm-up, the same number of documents, into a fresh index of the same
  # settings.
  "$ROOT/bin/bench/weir" bench --target local --index weir-osb-bench --recreate-index \
    --corpus-docs "$DOCS" --bulk-docs "$BULK" --clients "$CLIENTS" --warmup "${WARMUP}s" \
    --docs "$DOCS" --out "$OUT/osb-weir-bench-$stamp.json"
  curl -s -XDELETE "http://127.0.0.1:$PORT/weir-osb-bench" >/dev/null || true
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; print('weir bench: %d documents in %.1fs = %.0f docs/s mean (median of 1 s intervals %.0f)' % (r['docs'], r['seconds'], r['docs_per_sec_overall'], r['docs_per_sec']['median']))" "$OUT/osb-weir-bench-$stamp.json" >&2
  log "load average after weir bench: $(cut -d' ' -f1-3 /proc/loadavg)"
}

case "${1:-run}" in
  install) install ;;
  workload) workload ;;
  run) run ;;
  *) echo "usage: $0 install|run" >&2; exit 2 ;;
esac
