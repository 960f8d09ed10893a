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
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"

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

healthy() { curl -sf "$URL/moto-api/" >/dev/null 2>&1; }

start() {
  install
  start_service moto 60 0.5 "$RUN_DIR/moto.log" "$(server_bin)" -H 127.0.0.1 -p "$PORT"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_service 20 0.25 ;;
  status) service_status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 install|start|stop|status|url" >&2; exit 2 ;;
esac
