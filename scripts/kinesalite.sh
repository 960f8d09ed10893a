#!/usr/bin/env bash
# Runs kinesalite, a Kinesis emulator on Node.js, on 127.0.0.1 for the Kinesis source's
# resharding test: moto's SplitShard and MergeShards move or copy the parents' records into
# the children and its GetRecords never reports the end of a closed shard, so only
# kinesalite shows a split or merge as Kinesis does it. kinesalite is installed from npm
# into .cache/kinesalite, so a fresh machine needs nothing by hand but node and npm.
#
#   scripts/kinesalite.sh install|start|stop|status|url   (WEIR_KINESALITE_PORT, default 14567)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${WEIR_KINESALITE_PORT:-14567}"
VERSION="${WEIR_KINESALITE_VERSION:-3.3.3}"
CACHE="$ROOT/.cache/kinesalite"
RUN_DIR="$CACHE/run-$PORT"
PIDFILE="$RUN_DIR/kinesalite.pid"
URL="http://127.0.0.1:$PORT"
MAIN="$CACHE/node_modules/kinesalite/index.js"

log() { echo "kinesalite.sh: $*" >&2; }
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"

install() {
  if [[ -f "$MAIN" ]] && grep -q "\"version\": \"$VERSION\"" "$CACHE/node_modules/kinesalite/package.json"; then return 0; fi
  command -v npm >/dev/null || { log "npm is needed (apt-get install nodejs npm)"; exit 1; }
  log "installing kinesalite@$VERSION into $CACHE"
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-audit --no-fund --silent "kinesalite@$VERSION" >&2
}

# kinesalite answers a bare GET with 400 and a JSON error: any HTTP answer means it is up.
healthy() { curl -s -o /dev/null "$URL/" 2>/dev/null; }

start() {
  install
  # Streams change state at once (no 500ms CREATING/UPDATING), bound to loopback only.
  start_service kinesalite 60 0.25 "$RUN_DIR/kinesalite.log" \
    node -e "require(process.argv[1])({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000}).listen(+process.argv[2], '127.0.0.1')" \
    "$MAIN" "$PORT"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_service 20 0.25 ;;
  status) service_status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 install|start|stop|status|url" >&2; exit 2 ;;
esac
