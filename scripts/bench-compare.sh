#!/usr/bin/env bash
# weir side by side with Benthos v4.27.0, in one command:
#
#   scripts/bench-compare.sh                       # 10 s warm-up, 30 s measured per scenario
#   scripts/bench-compare.sh --duration 600 --scenarios weir   # the 10-minute RSS check
#   scripts/bench-compare.sh --rounds 4 --warmup 5 --duration 15  # interleaved, judged per round
#
# Builds weir, the null _bulk receiver, the load generator and the comparison driver into
# bin/bench, builds Benthos into bench/.peers if it is not there (scripts/bench-peers.sh, ~8
# minutes the first time), then runs each scenario as separate processes on loopback:
# ceiling (load generator → receiver), benthos, weir (async), weir-sigv4. It prints a table
# and appends it to bench/RESULTS.md with this command line and the load average.
#
# Options (all optional): --duration SECONDS (30), --warmup SECONDS (10), --scenarios LIST,
# --conns N (8), --docs N (500 per request), --compact (compact receiver answers),
# --weir-set key=value,... (extra weir settings, e.g. pipeline.queue_bytes=16MiB),
# --rounds N (1: run the scenario list N times over, interleaved, and judge the targets on the
# median of the rounds' ratios; this VM runs at two speed levels for minutes at a time),
# --rate DOCS_PER_SECOND (offer a fixed load instead of posting as fast as answered),
# --no-record (print only). RSS is sampled every 10 s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
export GOEXPERIMENT="${GOEXPERIMENT-simd}" # as the Makefile builds weir

duration=30 warmup=10 rounds=1 rate=0 scenarios="ceiling,benthos,weir,weir-sigv4" conns=8 docs=500 record=1 compact="" weirset=""
cmdline="scripts/bench-compare.sh $*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --scenarios) scenarios="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --conns) conns="$2"; shift 2 ;;
    --docs) docs="$2"; shift 2 ;;
    --compact) compact="-compact"; shift ;;
    --weir-set) weirset="$2"; shift 2 ;;
    --no-record) record=0; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench-compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

BIN="$ROOT/bin/bench"
mkdir -p "$BIN" "$ROOT/bench/out"
echo "bench-compare.sh: building weir and the bench tools" >&2
"$GO" build -trimpath -o "$BIN/weir" ./cmd/weir
"$GO" build -trimpath -o "$BIN/nullbulk" ./bench/cmd/nullbulk
"$GO" build -trimpath -o "$BIN/loadgen" ./bench/cmd/loadgen
"$GO" build -trimpath -o "$BIN/sidebyside" ./bench/cmd/sidebyside
if [[ ",$scenarios," == *",benthos,"* ]]; then
  BENTHOS="$(scripts/bench-peers.sh)"
else
  BENTHOS="$ROOT/bench/.peers/bin/benthos"
fi

results=()
if [[ "$record" == 1 ]]; then results=(-results "$ROOT/bench/RESULTS.md"); fi
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
"$BIN/sidebyside" -bin "$BIN" -benthos "$BENTHOS" -work "$ROOT/bench/out/sidebyside-$stamp" \
  -scenarios "$scenarios" -rounds "$rounds" -rate "$rate" -warmup "${warmup}s" -duration "${duration}s" -rss-every 10s \
  -conns "$conns" -docs "$docs" $compact -weir-set "$weirset" -out "$ROOT/bench/out/sidebyside-$stamp.json" \
  -command "$cmdline" "${results[@]}"
