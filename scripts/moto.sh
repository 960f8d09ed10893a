#!/usr/bin/env bash
# Runs moto's server, the AWS emulator (SQS, Kinesis, DynamoDB, STS, S3, SNS), on 127.0.0.1
# for integration tests. moto is installed from PyPI into .cache/moto-venv when the machine's
# Python lacks it, so a fresh machine needs nothing by hand.
#
#   scripts/moto.sh install|start|stop|status|url      (WEIR_MOTO_PORT, default 15000)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${WEIR_MOTO_PORT:-15000}"
MOTO_VERSION="${WEIR_MOTO_VERSION:-5.2.1}"
CACHE="$ROOT/.cache/moto"
RUN_DIR="$CACHE/run-$PORT"
PIDFILE="$RUN_DIR/moto.pid"
URL="http://127.0.0.1:$PORT"

log() { echo "moto.sh: $*" >&2; }

server_bin() {
  if [[ -x "$CACHE/venv/bin/moto_server" ]]; then echo "$CACHE/venv/bin/moto_server"; return; fi
  if python3 -c 'import moto, flask, flask_cors' >/dev/null 2>&1 && command -v moto_server >/dev/null; then
    command -v moto_server; return
  fi
  echo ""
}

install() {
  if [[ -n "$(server_bin)" ]]; then return 0; fi
  log "installing moto[server]==$MOTO_VERSION into $CACHE/venv"
  mkdir -p "$CACHE"
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q "moto[server]==$MOTO_VERSION" >&2
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
healthy() { curl -sf "$URL/moto-api/" >/dev/null 2>&1; }

start() {
  install
  if running && healthy; then log "already running at $URL"; return 0; fi
  mkdir -p "$RUN_DIR"
  if ! running; then
    log "starting moto on $URL"
    # setsid: the server must outlive the shell that started it (make, CI).
    setsid "$(server_bin)" -H 127.0.0.1 -p "$PORT" >"$RUN_DIR/moto.log" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 60); do
    if healthy; then log "ready at $URL (pid $(cat "$PIDFILE"))"; return 0; fi
    running || break
    sleep 0.5
  done
  log "moto did not start; its log:"; tail -20 "$RUN_DIR/moto.log" >&2; exit 1
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
