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

install() {
  if [[ -f "$MAIN" ]] && grep -q "\"version\": \"$VERSION\"" "$CACHE/node_modules/kinesalite/package.json"; then return 0; fi
  command -v npm >/dev/null || { log "npm is needed (apt-get install nodejs npm)"; exit 1; }
  log "installing kinesalite@$VERSION into $CACHE"
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-audit --no-fund --silent "kinesalite@$VERSION" >&2
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
# kinesalite answers a bare GET with 400 and a JSON error: any HTTP answer means it is up.
healthy() { curl -s -o /dev/null "$URL/" 2>/dev/null; }

start() {
  install
  if running && healthy; then log "already running at $URL"; return 0; fi
  mkdir -p "$RUN_DIR"
  if ! running; then
    log "starting kinesalite on $URL"
    # Streams change state at once (no 500ms CREATING/UPDATING), bound to loopback only.
    setsid node -e "require(process.argv[1])({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000}).listen(+process.argv[2], '127.0.0.1')" \
      "$MAIN" "$PORT" >"$RUN_DIR/kinesalite.log" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 60); do
    if healthy; then log "ready at $URL (pid $(cat "$PIDFILE"))"; return 0; fi
    running || break
    sleep 0.25
  done
  log "kinesalite did not start; its log:"; tail -20 "$RUN_DIR/kinesalite.log" >&2; exit 1
}

stop() {
  if ! [[ -f "$PIDFILE" ]]; then log "not running"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE"; log "stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running pid=$(cat "$PIDFILE") url=$URL"; else echo stopped; exit 3; fi ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 install|start|stop|status|url" >&2; exit 2 ;;
esac
