#!/usr/bin/env bash
# End-to-end gateway overhead: the same upstream measured directly and through
# `resilient-llm gateway serve`, alternating, for the OpenAI-compatible path, the Bedrock
# path (SigV4 + Converse mapping) and the Anthropic Messages stream path (`/v1/messages` with
# `stream: true` → InvokeModelWithResponseStream), at several concurrencies. Upstream = the sandbox with zero
# latency and no faults. Loopback only; stops only the processes it started.
#
#   benches/gateway-overhead.sh                 # 3 rounds of 5 s per side, concurrency 1 10 50
#   DURATION=2 CONCURRENCY="1 10" benches/gateway-overhead.sh
#   BUILD=0 benches/gateway-overhead.sh         # skip `cargo build --release`
#   BIN=target/debug/resilient-llm BUILD=0 DURATION=1 CONCURRENCY=1 benches/gateway-overhead.sh  # CI smoke run
#   UPSTREAM=nginx benches/gateway-overhead.sh  # Debian's nginx answering canned replies instead
#   UPSTREAM=nginx PEERS=1 benches/gateway-overhead.sh  # and the LiteLLM proxy and Portkey beside us
#
# UPSTREAM=nginx measures against an upstream faster than the gateway (nginx-light, installed
# with apt-get when missing, answering a canned `chat.completion` and a canned Converse reply;
# the Bedrock deployment's endpoint points at it, the gateway still signs with SigV4): the
# "direct" column is then what the machine serves without the gateway, the fair reference for
# throughput; the sandbox, slower than the gateway, flatters the gateway's share of it. The
# Messages stream path needs the sandbox's event stream, so nginx mode measures the OpenAI and
# Bedrock paths only.
#
# PEERS=1 (nginx mode only) adds a second table: the OpenAI path through this gateway, the LiteLLM
# proxy 1.108.7 and the Portkey gateway 1.15.2, each started here in front of the same nginx,
# measured in turn within each round (same durations, medians of the rounds), with CPU per
# request and peak RSS of each one's whole process tree. The peers are installed on first use
# into PEERS_DIR (default target/bench-peers: a Python virtualenv from PyPI, an npm prefix);
# a peer the machine cannot install or start is reported as skipped, not measured.
#
# Prints one table: requests/s, p50/p90/p99 latency, added latency at each percentile
# (gateway minus direct), errors, the gateway's peak RSS and CPU time per request; then
# start-up to ready and idle RSS. Each figure is the median of ROUNDS (default 3) alternating
# direct/gateway runs: on 2 cores one run's tail is mostly the scheduler's.
#
# The Bedrock path calls an inference profile (`us.…`), as Bedrock serves current Claude
# models on demand only through one. Each path is first checked with one request; any non-2xx
# answer (there or during the runs) fails the script (exit 1), so a smoke run cannot pass on
# errors. wrk is required: installed with apt-get when missing, else the script stops saying so.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-"1 10 50"}
BUILD=${BUILD:-1}
BIN=${BIN:-target/release/resilient-llm}
export AWS_EC2_METADATA_DISABLED=true NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } ||
    { echo "error: wrk is not installed and apt-get could not install it; install wrk and rerun" >&2; exit 1; }
fi
[ "$BUILD" = 1 ] && cargo build --release --quiet

ROUTER_TIMEOUT=30 . benches/sandbox-upstream.sh
UPSTREAM=${UPSTREAM:-sandbox}
PATHS="openai bedrock messages"
direct=$sandbox
PEERS=${PEERS:-0}
if [ "$PEERS" = 1 ] && [ "$UPSTREAM" != nginx ]; then
  echo "error: PEERS=1 measures the peers against nginx: set UPSTREAM=nginx too" >&2; exit 1
fi
if [ "$UPSTREAM" = nginx ]; then
  if ! command -v nginx >/dev/null; then
    echo "installing nginx-light (Debian package)…" >&2
    { apt-get install -y -qq nginx-light >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }; } ||
      { echo "error: nginx is not installed and apt-get could not install it" >&2; exit 1; }
  fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  chat='{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, friend, how are you"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}'
  reply='{"output":{"message":{"role":"assistant","content":[{"text":"Hello there, friend, how are you"}]}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":8,"totalTokens":20},"metrics":{"latencyMs":1}}'
  cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$port;
    location = /v1/chat/completions { default_type application/json; return 200 '$chat'; }
    location ~ ^/model/[^/]+/converse\$ { default_type application/json; add_header x-amzn-RequestId bench; return 200 '$reply'; }
  }
}
NGINX
  nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.log" 2>&1 &
  pids+=($!)
  direct="http://127.0.0.1:$port"
  until curl -s -o /dev/null "$direct/v1/chat/completions" -X POST -d '{}'; do sleep 0.05; done
  # Both deployments go to nginx: the OpenAI one by its api_base, the Bedrock one by its
  # endpoint override.
  sed -i "s#api_base: $sandbox/v1#api_base: $direct/v1#; s#aws_profile_name: genai}#aws_profile_name: genai, api_base: \"$direct\"}#" "$work/bench.yaml"
  PATHS="openai bedrock"
fi

# Start-up to ready: spawn until /health/readiness answers.
start_ns=$(date +%s%N)
"$BIN" --config "$work/bench.yaml" gateway serve --port 0 >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
gateway=$(wait_for_url "$work/gateway.log")
until curl -sf "$gateway/health/readiness" >/dev/null; do sleep 0.002; done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
idle_rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status")

body='{"model":"MODEL","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":32}'
converse='{"messages":[{"role":"user","content":[{"text":"Say hello in five words."}]}],"inferenceConfig":{"maxTokens":32}}'
invoke='{"anthropic_version":"bedrock-2023-05-31","max_tokens":32,"messages":[{"role":"user","content":"Say hello in five words."}]}'
messages='{"model":"bench-bedrock","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"Say hello in five words."}]}'
sigv4='AWS4-HMAC-SHA256 Credential=SANDBOXGENAIKEY00001/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00'
lua() { # name body authorization
  cat >"$work/$1.lua" <<EOF
wrk.method = "POST"
wrk.body = [[$2]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$3"
EOF
}
lua openai-direct "${body/MODEL/bench-model}" "Bearer sk-bench"
lua openai-gateway "${body/MODEL/bench-openai}" "Bearer none"
lua bedrock-direct "$converse" "$sigv4"
lua bedrock-gateway "${body/MODEL/bench-bedrock}" "Bearer none"
lua messages-direct "$invoke" "$sigv4"
lua messages-gateway "$messages" "Bearer none"

declare -A url=(
  [openai-direct]="$direct/v1/chat/completions"
  [openai-gateway]="$gateway/v1/chat/completions"
  [bedrock-direct]="$direct/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
  [bedrock-gateway]="$gateway/v1/chat/completions"
  [messages-direct]="$sandbox/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke-with-response-stream"
  [messages-gateway]="$gateway/v1/messages"
)

# One request per path before any measurement: a path that does not answer 2xx fails the run
# with the answer it gave, instead of being measured as fast errors.
declare -A bodies=([openai-direct]="${body/MODEL/bench-model}|Bearer sk-bench" [openai-gateway]="${body/MODEL/bench-openai}|Bearer none"
        [bedrock-direct]="$converse|$sigv4" [bedrock-gateway]="${body/MODEL/bench-bedrock}|Bearer none"
        [messages-direct]="$invoke|$sigv4" [messages-gateway]="$messages|Bearer none")
for path in $PATHS; do for name in "$path-direct" "$path-gateway"; do
  status=$(curl -s -o "$work/check.out" -w '%{http_code}' -X POST "${url[$name]}" \
    -H 'Content-Type: application/json' -H "Authorization: ${bodies[$name]#*|}" --data "${bodies[$name]%%|*}")
  if [[ $status != 2* ]]; then
    echo "error: $name (${url[$name]}) answered HTTP $status, not 2xx:" >&2; cat "$work/check.out" >&2; echo >&2
    exit 1
  fi
done; done

# wrk's latency with unit → milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

# CPU ticks (user + system) of a process and all its descendants; default the gateway.
cpu_ticks() {
  local pid=${1:-$gw_pid} total child
  total=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
  for child in $(pgrep -P "$pid" || true); do total=$((total + $(cpu_ticks "$child"))); done
  echo "$total"
}
# Peak RSS (KiB) of a process and its descendants, summed.
peak_rss() {
  local pid=$1 total child
  total=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  for child in $(pgrep -P "$pid" || true); do total=$((total + $(peak_rss "$child"))); done
  echo "$total"
}
# Runs wrk and prints: rps p50 p90 p99 errors requests
measure() {
  local name=$1 conns=$2 out
  out=$(wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$work/$name.lua" "${url[$name]}" 2>&1)
  local rps p50 p90 p99 non2xx sockerr requests
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  p90=$(to_ms "$(awk '$1=="90%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4+$6+$8+$10}' <<<"$out"); sockerr=${sockerr:-0}
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $p50 $p90 $p99 $((non2xx + sockerr)) $requests"
}

printf '\nGateway overhead on %s (%s cores), %ss per run, median of %s rounds, wrk -t1, loopback, %s upstream with zero latency\n\n' \
  "$(uname -m)" "$(nproc)" "$DURATION" "$ROUNDS" "$UPSTREAM"
printf '%-8s %4s | %9s %8s %8s %8s | %9s %8s %8s %8s | %8s %8s %8s | %6s | %9s\n' \
  path conc direct/s p50 p90 p99 gateway/s p50 p90 p99 "+p50" "+p90" "+p99" errors "cpu µs/rq"
printf -- '-%.0s' $(seq 1 150); echo
# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'; }
total_errors=0
for path in $PATHS; do
  for c in $CONCURRENCY; do
    # Warm both sides (connections, pools, clients), then alternate direct and gateway ROUNDS
    # times; each figure is the median over the rounds, added latency from the medians.
    wrk -t1 -c"$c" -d1s -s "$work/$path-direct.lua" "${url[$path-direct]}" >/dev/null 2>&1
    wrk -t1 -c"$c" -d1s -s "$work/$path-gateway.lua" "${url[$path-gateway]}" >/dev/null 2>&1
    drps=() d50=() d90=() d99=() grps=() g50=() g90=() g99=() cpu=()
    errors=0
    for _ in $(seq 1 "$ROUNDS"); do
      read -r rps p50 p90 p99 err _ <<<"$(measure "$path-direct" "$c")"
      drps+=("$rps") d50+=("$p50") d90+=("$p90") d99+=("$p99"); errors=$((errors + err))
      before=$(cpu_ticks)
      read -r rps p50 p90 p99 err requests <<<"$(measure "$path-gateway" "$c")"
      after=$(cpu_ticks)
      grps+=("$rps") g50+=("$p50") g90+=("$p90") g99+=("$p99"); errors=$((errors + err))
      cpu+=("$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')")
    done
    D50=$(median "${d50[@]}") D90=$(median "${d90[@]}") D99=$(median "${d99[@]}")
    G50=$(median "${g50[@]}") G90=$(median "${g90[@]}") G99=$(median "${g99[@]}")
    printf '%-8s %4s | %9.0f %8s %8s %8s | %9.0f %8s %8s %8s | %8s %8s %8s | %6s | %9.1f\n' \
      "$path" "$c" "$(median "${drps[@]}")" "$D50" "$D90" "$D99" "$(median "${grps[@]}")" "$G50" "$G90" "$G99" \
      "$(add "$G50" "$D50")" "$(add "$G90" "$D90")" "$(add "$G99" "$D99")" "$errors" "$(median "${cpu[@]}")"
    total_errors=$((total_errors + errors))
  done
done
peak_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")

printf '\nlatencies in ms; +pXX = gateway minus direct at that percentile; errors = non-2xx + socket errors (both sides)\n'
printf 'gateway: start-up to ready %s ms, idle RSS %.1f MiB, peak RSS %.1f MiB\n' \
  "$ready_ms" "$(awk -v k="$idle_rss_kib" 'BEGIN{print k/1024}')" "$(awk -v k="$peak_rss_kib" 'BEGIN{print k/1024}')"
if [ "$PEERS" = 1 ]; then
  . benches/peers.sh
fi
if [ "$total_errors" -gt 0 ]; then
  echo "error: $total_errors requests failed (non-2xx or socket errors); the figures above are not valid" >&2
  exit 1
fi
