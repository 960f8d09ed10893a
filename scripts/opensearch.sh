#!/usr/bin/env bash
# Installs and runs a real single-node OpenSearch for tests and `make run`.
#
# The node comes from Maven Central (the published integ-test-zip distribution), so the
# machine's Maven is all it needs. It binds 127.0.0.1 only, has no security plugin, and keeps
# everything (install, data, logs, pid) under .cache/opensearch, which git ignores.
#
#   scripts/opensearch.sh install|start|stop|status|env|url
#
# Environment: WEIR_OS_VERSION (2.19.6), WEIR_OS_PORT (19200), WEIR_OS_HEAP (512m),
# WEIR_OS_WRITE_QUEUE (write thread-pool queue size; tests set it small to provoke real 429s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${WEIR_OS_VERSION:-2.19.6}"
PORT="${WEIR_OS_PORT:-19200}"
TPORT="$((PORT + 100))"
HEAP="${WEIR_OS_HEAP:-512m}"
WRITE_QUEUE="${WEIR_OS_WRITE_QUEUE:-}"
CACHE="$ROOT/.cache/opensearch"
HOME_DIR="$CACHE/opensearch-$VERSION"
RUN_DIR="$CACHE/run-$PORT"
PIDFILE="$RUN_DIR/opensearch.pid"
URL="http://127.0.0.1:$PORT"

log() { echo "opensearch.sh: $*" >&2; }
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"

java_home() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME"; return; fi
  local j
  j="$(readlink -f "$(command -v java)")"
  dirname "$(dirname "$j")"
}

# OpenSearch refuses to run as root (CI and these machines run as root), so the node runs as
# an unprivileged user. `nobody` exists everywhere; no account has to be created.
run_as() {
  if [[ "$(id -u)" == "0" ]]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
  else
    "$@"
  fi
}

install() {
  if [[ -x "$HOME_DIR/bin/opensearch" ]]; then return 0; fi
  mkdir -p "$CACHE/dl"
  log "downloading org.opensearch.distribution.integ-test-zip:opensearch:$VERSION from Maven Central"
  mvn -B -q dependency:copy \
    -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip" \
    -DoutputDirectory="$CACHE/dl" >&2
  rm -rf "$HOME_DIR.tmp"
  mkdir -p "$HOME_DIR.tmp"
  (cd "$HOME_DIR.tmp" && unzip -q "$CACHE/dl/opensearch-$VERSION.zip")
  mv "$HOME_DIR.tmp/opensearch-$VERSION" "$HOME_DIR"
  rm -rf "$HOME_DIR.tmp"
  log "installed in $HOME_DIR"
}

healthy() {
  curl -sf "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

start() {
  install
  if running && healthy; then log "already running at $URL (pid $(cat "$PIDFILE"))"; return 0; fi
  if running; then log "pid $(cat "$PIDFILE") is up but not healthy yet"; else
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR/data" "$RUN_DIR/logs"
    # The node writes only here; it reads its install read-only.
    chmod -R a+rX "$HOME_DIR"
    chmod a+x "$ROOT" "$ROOT/.cache" "$CACHE" 2>/dev/null || true
    if [[ "$(id -u)" == "0" ]]; then chown -R nobody:nogroup "$RUN_DIR"; fi
    # A config dir per run: OpenSearch wants to write a keystore next to its config.
    cp -r "$HOME_DIR/config" "$RUN_DIR/config"
    # jvm.options names gc.log, error files and heap dumps relative to the install, which
    # the unprivileged node may not write: point them into the run folder.
    sed -i -e "s#file=logs/#file=$RUN_DIR/logs/#" -e "s#ErrorFile=logs/#ErrorFile=$RUN_DIR/logs/#" \
      -e "s#HeapDumpPath=data#HeapDumpPath=$RUN_DIR/data#" "$RUN_DIR/config/jvm.options"
    if [[ "$(id -u)" == "0" ]]; then chown -R nobody:nogroup "$RUN_DIR/config"; fi
    local extra=()
    if [[ -n "$WRITE_QUEUE" ]]; then extra+=("-Ethread_pool.write.queue_size=$WRITE_QUEUE"); fi
    log "starting OpenSearch $VERSION on $URL (heap $HEAP)"
    run_as env OPENSEARCH_JAVA_HOME="$(java_home)" OPENSEARCH_PATH_CONF="$RUN_DIR/config" \
      OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP -XX:-HeapDumpOnOutOfMemoryError" \
      "$HOME_DIR/bin/opensearch" -d -p "$PIDFILE" \
      -Ediscovery.type=single-node -Enetwork.host=127.0.0.1 \
      -Ehttp.port="$PORT" -Etransport.port="$TPORT" \
      -Epath.data="$RUN_DIR/data" -Epath.logs="$RUN_DIR/logs" \
      -Ecluster.routing.allocation.disk.threshold_enabled=false \
      -Eaction.auto_create_index=true "${extra[@]}" >"$RUN_DIR/stdout.log" 2>&1 || {
        log "failed to start; last lines of its output:"; tail -20 "$RUN_DIR/stdout.log" >&2; exit 1; }
  fi
  for _ in $(seq 1 120); do
    if healthy; then log "ready at $URL (pid $(cat "$PIDFILE"))"; return 0; fi
    if [[ -f "$PIDFILE" ]] && ! running; then break; fi
    sleep 1
  done
  log "did not become healthy; last log lines:"
  tail -30 "$RUN_DIR/logs/opensearch.log" >&2 2>/dev/null || tail -30 "$RUN_DIR/stdout.log" >&2
  exit 1
}

stop() { stop_service 60 0.5; }

status() {
  service_status || return
  curl -s "$URL/_cluster/health"; echo
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 install|start|stop|restart|status|url" >&2; exit 2 ;;
esac
