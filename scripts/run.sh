#!/usr/bin/env bash
# make run: weir on its bundled default configuration against the local node that
# scripts/opensearch.sh started, with the lines to try it printed first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OS_URL="$(scripts/opensearch.sh url)"
cat <<TXT

weir is starting: HTTP source on http://127.0.0.1:8088 (sync mode), control port on
http://127.0.0.1:8089, OpenSearch at $OS_URL. Try, from another terminal:

  # send documents (NDJSON; a JSON array or a single object work too)
  curl -s -XPOST http://127.0.0.1:8088/v1/ingest/demo -H 'Content-Type: application/x-ndjson' \\
    --data-binary \$'{"msg":"hello","@timestamp":"2026-11-25T10:00:00Z"}\\n{"msg":"world"}\\n'

  # or in OpenSearch bulk format, as Fluent Bit, Vector or Logstash send it
  curl -s -XPOST http://127.0.0.1:8088/_bulk -H 'Content-Type: application/x-ndjson' \\
    --data-binary \$'{"index":{"_index":"demo","_id":"1"}}\\n{"msg":"from bulk"}\\n'

  # read them back
  curl -s "$OS_URL/demo/_refresh" >/dev/null; curl -s "$OS_URL/demo/_search?pretty"

  # health, readiness and Prometheus metrics
  curl -s http://127.0.0.1:8089/readyz; curl -s http://127.0.0.1:8089/metrics | grep ^weir_

Stop with Ctrl-C (weir drains before it exits); stop the node with scripts/opensearch.sh stop.

TXT
exec bin/weir run "$@"
