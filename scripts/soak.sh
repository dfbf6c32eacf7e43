#!/usr/bin/env bash
# Soak test: the gateway under mixed load and injected faults for DURATION seconds, in front of
# a sandbox running as its own process (so the gateway's memory is measured alone), then a
# report: requests by outcome (HTTP status, 000 = no answer; streams by how they ended), RSS at
# the start and the end (after a warm-up) with the growth, open file descriptors, threads and
# runtime tasks. Exits non-zero when RSS grew more than MAX_GROWTH_PCT percent, a request hung,
# or a stream ended without [DONE] or an error event.
#
#   DURATION=300 WORKERS=8 WARMUP=15 BUILD=1 MAX_GROWTH_PCT=10 scripts/soak.sh
#
# Loopback only; every request is bounded by curl's --max-time.
set -euo pipefail

DURATION=${DURATION:-300}
WORKERS=${WORKERS:-8}
WARMUP=${WARMUP:-15}
BUILD=${BUILD:-1}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-10}
REQUEST_TIMEOUT=${REQUEST_TIMEOUT:-30}

cd "$(dirname "$0")/.."
if [[ "$BUILD" != 0 ]]; then
  cargo build --release --quiet
fi
BIN=${BIN:-target/release/resilient-llm}

WORK=$(mktemp -d)
GATEWAY_PID=""
SANDBOX_PID=""
cleanup() {
  for pid in "$GATEWAY_PID" "$SANDBOX_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/config.yaml" <<'YAML'
gateway:
  master_key: sk-soak-master
  consumers:
    - {name: alpha, key: sk-soak-alpha}
    - {name: beta, key: sk-soak-beta, models: [chat]}
    - {name: gamma, key: sk-soak-gamma, rpm_limit: 600}
model_list:
  - model_name: chat
    litellm_params: {model: "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", aws_profile_name: genai, timeout: 5}
    model_info: {id: chat-genai}
  - model_name: chat
    litellm_params: {model: "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", aws_profile_name: test, timeout: 5}
    model_info: {id: chat-test}
  - model_name: smart
    litellm_params: {model: "bedrock/us.anthropic.claude-sonnet-4-6", aws_profile_name: genai, timeout: 5}
    model_info: {id: smart-genai}
router_settings:
  num_retries: 2
  retry_after: 0.05
  allowed_fails: 3
  cooldown_time: 1
  fallbacks: [{smart: [chat]}]
sandbox:
  seed: 42
  latency: {first_token_ms: 20, tokens_per_second: 2000}
  # Quotas well above the load, so throttling comes from the fault below, not from exhaustion.
  accounts:
    - {profile: genai, account_id: "111111111111", access_key_id: SANDBOXGENAIKEY00001, secret_access_key: sandbox-secret-genai, quotas: {default: {rpm: 100000, tpm: 100000000}}}
    - {profile: test, account_id: "222222222222", access_key_id: SANDBOXTESTKEY000001, secret_access_key: sandbox-secret-test, quotas: {default: {rpm: 100000, tpm: 100000000}}}
  faults:
    - {error: ThrottlingException, rate: 0.01, profile: genai}
    - {error: InternalServerException, rate: 0.03}
    - {error: ServiceUnavailableException, rate: 0.02, model: sonnet}
    - {error: ConnectionReset, rate: 0.01}
    - {error: ModelStreamErrorException, rate: 0.02, phase: mid_stream}
  stall_streams: {rate: 0.005, after_tokens: 5}
YAML

export AWS_EC2_METADATA_DISABLED=true NO_PROXY=127.0.0.1,localhost
# The sandbox in its own process; the gateway reaches it the way it reaches AWS: through the
# profiles (with their endpoint) in the AWS config files the sandbox writes.
env -u RUST_LOG "$BIN" --config "$WORK/config.yaml" sandbox serve --port 0 --aws-config-dir "$WORK/aws" \
  >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
SANDBOX_PID=$!
for _ in $(seq 1 200); do
  grep -q '^Sandbox listening on ' "$WORK/sandbox.out" 2>/dev/null && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$WORK/sandbox.err" >&2; exit 1; }
  sleep 0.1
done
env -u RUST_LOG AWS_CONFIG_FILE="$WORK/aws/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws/credentials" \
  "$BIN" --config "$WORK/config.yaml" gateway serve --port 0 \
  >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GATEWAY_PID=$!

URL=""
for _ in $(seq 1 200); do
  URL=$(sed -n 's/^Gateway listening on //p' "$WORK/gateway.out" | head -n1)
  [[ -n "$URL" ]] && break
  kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$WORK/gateway.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$URL" ]] || { echo "the gateway printed no URL" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$GATEWAY_PID/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$GATEWAY_PID/status"; }
fds() { ls "/proc/$GATEWAY_PID/fd" | wc -l; }

tasks() { curl -s "$URL/metrics" | awk '$1 == "resilient_llm_runtime_tasks" {print $2}'; }

# How a request ended: its HTTP status, and for a 200 stream whether it reached [DONE], ended
# with an error event, or was cut short (which must never happen).
outcome() {
  local code=$1 stream=$2 body=$3
  if [[ $code != 200 || $stream != true ]]; then
    echo "$code"
  elif grep -q '^data: \[DONE\]' "$body"; then
    echo "200 stream, [DONE]"
  elif grep -q '"error"' "$body"; then
    echo "200 stream, ended by an error event"
  else
    echo "200 stream, cut short"
  fi
}

# One worker: requests until the deadline, alternating keys, groups and streaming; one outcome
# per line in its own file.
worker() {
  local id=$1 until=$2 out="$WORK/worker-$1.codes" n=0
  local keys=(sk-soak-master sk-soak-alpha sk-soak-beta sk-soak-gamma)
  local groups=(chat smart chat)
  while (( $(date +%s) < until )); do
    local key=${keys[$(( (n + id) % 4 ))]} group=${groups[$(( n % 3 ))]} stream=false
    [[ $key == sk-soak-beta ]] && group=chat # beta may use chat only
    (( n % 2 == 0 )) && stream=true
    local body="{\"model\":\"$group\",\"messages\":[{\"role\":\"user\",\"content\":\"Soak request $n from worker $id: say something short.\"}],\"max_tokens\":64,\"stream\":$stream}"
    local code
    code=$(curl -s -o "$WORK/body-$id" --max-time "$REQUEST_TIMEOUT" -w '%{http_code}' \
      -H "authorization: Bearer $key" -H 'content-type: application/json' \
      --data "$body" "$URL/v1/chat/completions") || true
    echo "$(outcome "${code:-000}" "$stream" "$WORK/body-$id")" >>"$out"
    n=$((n + 1))
  done
}

run_load() {
  local seconds=$1 until pids=()
  until=$(( $(date +%s) + seconds ))
  for id in $(seq 1 "$WORKERS"); do
    worker "$id" "$until" &
    pids+=($!)
  done
  wait "${pids[@]}"
}

echo "Soak: $URL, $WORKERS workers, warm-up ${WARMUP}s, then ${DURATION}s"
run_load "$WARMUP"
rm -f "$WORK"/worker-*.codes
RSS_START=$(rss_kb) FDS_START=$(fds) THREADS_START=$(threads) TASKS_START=$(tasks)
STARTED=$(date +%s)
run_load "$DURATION"
ELAPSED=$(( $(date +%s) - STARTED ))
sleep 2   # let finished connections close before counting descriptors
RSS_END=$(rss_kb) FDS_END=$(fds) THREADS_END=$(threads) TASKS_END=$(tasks)

TOTAL=$(cat "$WORK"/worker-*.codes | wc -l)
GROWTH=$(awk -v a="$RSS_START" -v b="$RSS_END" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
HUNG=$(cat "$WORK"/worker-*.codes | awk '$1 == "000" {s++} END {print s + 0}')
CUT=$(cat "$WORK"/worker-*.codes | awk '/cut short/ {s++} END {print s + 0}')

echo
echo "== soak report =="
echo "duration:          ${ELAPSED}s (after ${WARMUP}s warm-up), $WORKERS workers"
echo "requests:          $TOTAL ($(( TOTAL / (ELAPSED > 0 ? ELAPSED : 1) ))/s)"
echo "by outcome (HTTP status, 000 = no answer; streams by how they ended):"
cat "$WORK"/worker-*.codes | sort | uniq -c | sort -rn \
  | awk '{ n = $1; $1 = ""; printf "  %-38s %7d\n", substr($0, 2), n }'
echo "sandbox RSS:       $(awk '/^VmRSS:/ {print $2}' "/proc/$SANDBOX_PID/status") kB (its own process: logs grow with traffic)"
echo "RSS:               ${RSS_START} kB -> ${RSS_END} kB (${GROWTH}%)"
echo "open fds:          ${FDS_START} -> ${FDS_END}"
echo "threads:           ${THREADS_START} -> ${THREADS_END}"
echo "runtime tasks:     ${TASKS_START} -> ${TASKS_END}"
curl -s "$URL/metrics" | grep -E '^resilient_llm_(fallbacks|cooldowns|retries|errors)_total' | sed 's/^/  /' | head -20 || true

STATUS=0
if awk -v g="$GROWTH" -v m="$MAX_GROWTH_PCT" 'BEGIN { exit !(g > m) }'; then
  echo "FAIL: RSS grew ${GROWTH}% (more than ${MAX_GROWTH_PCT}%)"
  STATUS=1
fi
if (( HUNG > 0 )); then
  echo "FAIL: $HUNG request(s) got no answer within ${REQUEST_TIMEOUT}s"
  STATUS=1
fi
if (( CUT > 0 )); then
  echo "FAIL: $CUT stream(s) ended without [DONE] or an error event"
  STATUS=1
fi
(( STATUS == 0 )) && echo "PASS"
exit $STATUS
