# Sourced by the scripts that run a local service for tests (moto.sh, kinesalite.sh,
# opensearch.sh): a pid file, liveness, a detached start that waits until the service
# answers, a graceful stop. The caller sets PIDFILE and URL and defines log, and healthy
# (does the service answer?) before calling these.

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# start_service NAME TRIES INTERVAL LOGFILE COMMAND...: starts COMMAND unless it runs, then
# polls healthy up to TRIES times, INTERVAL seconds apart; on failure shows LOGFILE's tail.
start_service() {
  local name="$1" tries="$2" interval="$3" logfile="$4"; shift 4
  if running && healthy; then log "already running at $URL"; return 0; fi
  mkdir -p "$(dirname "$PIDFILE")"
  if ! running; then
    log "starting $name on $URL"
    # setsid: the service must outlive the shell that started it (make, CI).
    setsid "$@" >"$logfile" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 "$tries"); do
    if healthy; then log "ready at $URL (pid $(cat "$PIDFILE"))"; return 0; fi
    running || break
    sleep "$interval"
  done
  log "$name did not start; its log:"; tail -20 "$logfile" >&2; exit 1
}

# stop_service TRIES INTERVAL: TERM, up to TRIES × INTERVAL seconds to exit, then KILL.
stop_service() {
  local tries="$1" interval="$2"
  if ! [[ -f "$PIDFILE" ]]; then log "not running"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 1 "$tries"); do kill -0 "$pid" 2>/dev/null || break; sleep "$interval"; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE"; log "stopped"
}

# service_status: a line for a running service, else "stopped" and status 3.
service_status() {
  if running; then echo "running pid=$(cat "$PIDFILE") url=$URL"; else echo stopped; return 3; fi
}
