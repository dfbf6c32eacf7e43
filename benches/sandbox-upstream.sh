# Sourced by the bench scripts: a work folder cleaned up on exit, the bench config (an
# OpenAI-compatible and a Bedrock group, the sandbox with zero latency and quotas no bench
# reaches), and the sandbox started on a free port, its URL in `$sandbox`. Expects `$BIN`, and
# `$ROUTER_TIMEOUT` (seconds, default 30).

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/bench.yaml" <<EOF
aws: {profile_name: genai, region_name: us-east-1}
gateway: {host: 127.0.0.1, port: 4000}
model_list:
  - model_name: bench-openai
    litellm_params: {model: openai/bench-model, api_base: http://sandbox.invalid/v1, api_key: sk-bench}
  - model_name: bench-bedrock
    litellm_params: {model: "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", aws_profile_name: genai}
router_settings: {num_retries: 0, timeout: ${ROUTER_TIMEOUT:-30}}
sandbox:
  latency: {first_token_ms: 0, tokens_per_second: 0}
  accounts:
    - profile: genai
      account_id: "111111111111"
      access_key_id: SANDBOXGENAIKEY00001
      secret_access_key: sandbox-secret-genai
      quotas: {default: {rpm: 4000000000, tpm: 18000000000000000000}}
EOF

# Reads "… listening on http://HOST:PORT" from a process's log.
wait_for_url() {
  local log=$1
  for _ in $(seq 1 1200); do
    local url
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.05
  done
  echo "no listening line in $log:" >&2; cat "$log" >&2; exit 1
}

"$BIN" --config "$work/bench.yaml" sandbox serve --port 0 --aws-config-dir "$work/aws" >"$work/sandbox.log" 2>&1 &
pids+=($!)
sandbox=$(wait_for_url "$work/sandbox.log")
sed -i "s#http://sandbox.invalid#$sandbox#" "$work/bench.yaml"
export AWS_CONFIG_FILE=$work/aws/config AWS_SHARED_CREDENTIALS_FILE=$work/aws/credentials
