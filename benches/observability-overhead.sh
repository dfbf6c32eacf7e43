#!/usr/bin/env bash
# What traces and the request log cost: the same OpenAI-path load through three gateways in
# front of one sandbox (zero latency), one plain, one exporting every request's spans over
# OTLP/HTTP to a local collector (a small Python sink that reads and discards each batch), and
# one writing the JSON request log; alternating, median of ROUNDS. Reports requests/s, p50,
# p99 and the gateway's CPU time per request, and each one's CPU against the plain one's.
#
#   benches/observability-overhead.sh               # 3 rounds of 5 s, concurrency 10
#   BUILD=0 ROUNDS=5 CONCURRENCY=50 benches/observability-overhead.sh
#
# The traced gateway's /metrics must show every span exported and none dropped, or the run
# fails: a figure measured while spans were being dropped would flatter the exporter.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-10}
BUILD=${BUILD:-1}
BIN=${BIN:-target/release/resilient-llm}
export AWS_EC2_METADATA_DISABLED=true NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
command -v wrk >/dev/null || { echo "error: wrk is needed (apt-get install -y wrk)" >&2; exit 1; }
[ "$BUILD" = 1 ] && cargo build --release --quiet

ROUTER_TIMEOUT=30 . benches/sandbox-upstream.sh

# The collector: accepts OTLP/HTTP posts and counts the bytes.
cat >"$work/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(f"sink listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
PY
python3 "$work/sink.py" >"$work/sink.log" 2>&1 &
pids+=($!)
sink=$(wait_for_url "$work/sink.log")

start_gateway() { # name, then env assignments and extra options
  local name=$1; shift
  env "$@" "$BIN" --config "$work/bench.yaml" ${LOG_FORMAT:+--log-format "$LOG_FORMAT"} gateway serve --port 0 \
    >"$work/$name.log" 2>"$work/$name.err" &
  pids+=($!)
  eval "pid_$name=$!"
  eval "url_$name=\$(wait_for_url \"$work/$name.log\")"
}
start_gateway plain OTEL_SDK_DISABLED=true
start_gateway traced OTEL_EXPORTER_OTLP_ENDPOINT="$sink" OTEL_BSP_SCHEDULE_DELAY=500 OTEL_BSP_MAX_QUEUE_SIZE=8192
LOG_FORMAT=json start_gateway logged OTEL_SDK_DISABLED=true

cat >"$work/openai.lua" <<'LUA'
wrk.method = "POST"
wrk.body = [[{"model":"bench-openai","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":32}]]
wrk.headers["Content-Type"] = "application/json"
LUA

to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # pid url → rps p50 p99 errors cpu_us_per_request
  local before after out
  before=$(cpu_ticks "$1")
  out=$(wrk -t1 -c"$CONCURRENCY" -d"${DURATION}s" --latency -s "$work/openai.lua" "$2/v1/chat/completions" 2>&1)
  after=$(cpu_ticks "$1")
  local requests errors
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); errors=${errors:-0}
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")") \
$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")") $errors \
$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')"
}

declare -A rps p50 p99 cpu
for name in plain traced logged; do
  eval "wrk -t1 -c$CONCURRENCY -d1s -s $work/openai.lua \$url_$name/v1/chat/completions >/dev/null 2>&1"
done
errors=0
for _ in $(seq 1 "$ROUNDS"); do
  for name in plain traced logged; do
    eval "read -r r a b e c <<<\"\$(measure \$pid_$name \$url_$name)\""
    rps[$name]+="$r " p50[$name]+="$a " p99[$name]+="$b " cpu[$name]+="$c "
    errors=$((errors + e))
  done
done

printf '\nObservability overhead on %s (%s cores): OpenAI path, concurrency %s, %ss per run, median of %s rounds\n\n' \
  "$(uname -m)" "$(nproc)" "$CONCURRENCY" "$DURATION" "$ROUNDS"
printf '%-28s %10s %9s %9s %12s %10s\n' gateway "req/s" "p50 ms" "p99 ms" "cpu µs/rq" "vs plain"
printf -- '-%.0s' $(seq 1 84); echo
base=$(median ${cpu[plain]})
for name in plain traced logged; do
  label=${name/plain/plain (traces and log off)}
  label=${label/traced/OTLP traces (every request)}
  label=${label/logged/JSON request log}
  c=$(median ${cpu[$name]})
  printf '%-28s %10.0f %9s %9s %12s %+9.1f%%\n' "$label" "$(median ${rps[$name]})" "$(median ${p50[$name]})" \
    "$(median ${p99[$name]})" "$c" "$(awk -v c="$c" -v b="$base" 'BEGIN { print b ? (c - b) * 100 / b : 0 }')"
done
# Every span must have reached the collector.
sleep 1
metrics=$(curl -s "$url_traced/metrics")
exported=$(awk '/^resilient_llm_trace_spans_exported_total/ {print $2}' <<<"$metrics")
dropped=$(awk '/^resilient_llm_trace_spans_dropped_total/ {s += $2} END {print s + 0}' <<<"$metrics")
printf '\ntraced gateway: %s spans exported, %s dropped\n' "$exported" "$dropped"
if [ "$errors" -gt 0 ] || [ "${dropped:-0}" != 0 ] || [ "${exported:-0}" = 0 ]; then
  echo "error: $errors failed requests, ${dropped:-?} spans dropped, ${exported:-0} exported: the figures are not valid" >&2
  exit 1
fi
