#!/usr/bin/env bash
# Instructions per request through the gateway, counted by valgrind's callgrind: a figure that
# repeats on a shared machine (it counts instructions, not seconds), for comparing two builds.
#
#   benches/instructions.sh                          # release build of this checkout
#   BIN=/tmp/old/resilient-llm BUILD=0 benches/instructions.sh   # another build, same requests
#   N1=20 N2=220 benches/instructions.sh             # the two request counts (defaults)
#   KEEP=/tmp/profile benches/instructions.sh        # keep the callgrind files (callgrind_annotate)
#
# The gateway runs under callgrind twice, once serving N1 requests and once N2, sequentially
# over one keep-alive connection, then stops on SIGTERM; its start-up, warm-up and shutdown are
# the same in both runs, so (I(N2) − I(N1)) / (N2 − N1) is the cost of one request. The upstream
# is the sandbox (a separate process, not counted) answering with zero latency. One figure per
# path: the OpenAI-compatible path (pass-through) and the Bedrock path (OpenAI → Converse, the
# AWS SDK, SigV4). Needs valgrind (Debian package) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

N1=${N1:-20}
N2=${N2:-220}
BUILD=${BUILD:-1}
BIN=${BIN:-target/release/resilient-llm}
export AWS_EC2_METADATA_DISABLED=true NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

command -v valgrind >/dev/null ||
  { echo "error: valgrind is not installed (apt-get install -y valgrind)" >&2; exit 1; }
[ "$BUILD" = 1 ] && cargo build --release --quiet

ROUTER_TIMEOUT=600 . benches/sandbox-upstream.sh

# A curl config of `n` identical requests for `model`, all on one connection.
requests() { # model n
  local i
  for i in $(seq 1 "$2"); do
    cat <<EOF
url = "GATEWAY/v1/chat/completions"
request = "POST"
header = "Content-Type: application/json"
data = "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in five words.\"}],\"max_tokens\":32}"
write-out = "%{http_code}\n"
output = "/dev/null"
EOF
    [ "$i" -lt "$2" ] && echo next
  done
}

# Total instructions of one gateway run under callgrind serving `n` requests for `model`.
instructions() { # model n
  local model=$1 n=$2 out=$work/callgrind.$1.$2
  valgrind --tool=callgrind --callgrind-out-file="$out" --dump-line=no \
    "$BIN" --config "$work/bench.yaml" gateway serve --port 0 >"$work/gateway.log" 2>&1 &
  local pid=$!
  local gateway
  gateway=$(wait_for_url "$work/gateway.log")
  until curl -sf "$gateway/health/readiness" >/dev/null; do sleep 0.1; done
  requests "$model" "$n" | sed "s#GATEWAY#$gateway#" >"$work/curl.cfg"
  local codes
  codes=$(curl -s --config "$work/curl.cfg" | sort | uniq -c | tr -s ' ')
  if [ "$codes" != " $n 200" ]; then
    kill "$pid" 2>/dev/null || true
    echo "error: $model: expected $n answers of HTTP 200, got:$codes" >&2; tail -5 "$work/gateway.log" >&2; exit 1
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$out" "$KEEP/"; fi
  awk '/^summary:/ {print $2}' "$out"
}

printf 'Instructions per request through the gateway (callgrind; %s − %s requests, one connection)\n\n' "$N2" "$N1"
printf '%-32s %14s %14s %12s\n' path "I($N1)" "I($N2)" "per request"
for path in openai bedrock; do
  i1=$(instructions "bench-$path" "$N1")
  i2=$(instructions "bench-$path" "$N2")
  printf '%-32s %14s %14s %12s\n' "$path" "$i1" "$i2" "$(( (i2 - i1) / (N2 - N1) ))"
done
