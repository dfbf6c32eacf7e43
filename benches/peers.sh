# Sourced by gateway-overhead.sh with PEERS=1 (nginx mode): the OpenAI path through this
# gateway, the LiteLLM proxy and the Portkey gateway, each in front of the same nginx, measured
# in turn within each round. Expects what gateway-overhead.sh defines: $work, $direct, $gateway,
# $gw_pid, measure, median, add, cpu_ticks, peak_rss, url, the openai-* wrk scripts.

LITELLM_VERSION=1.108.7
PORTKEY_VERSION=1.15.2
PEERS_DIR=${PEERS_DIR:-target/bench-peers}
mkdir -p "$PEERS_DIR"
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Installs each peer on first use; a peer that cannot be installed is skipped, saying why.
peers=(ours)
declare -A peer_pid=([ours]=$gw_pid) peer_note=() peer_ready=() peer_idle=()
litellm=$PEERS_DIR/litellm
# (pip's output captured first: `grep -q` would end the pipe early, a failure under pipefail)
installed=$("$litellm/bin/python3" -m pip show litellm 2>/dev/null || true)
if ! grep -qx "Version: $LITELLM_VERSION" <<<"$installed"; then
  echo "installing the LiteLLM proxy $LITELLM_VERSION into $litellm (PyPI)…" >&2
  { python3 -m venv "$litellm" &&
    "$litellm/bin/python3" -m pip install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"; } \
    >"$work/litellm-install.log" 2>&1 || peer_note[litellm]="not installed: $(tail -1 "$work/litellm-install.log")"
fi
portkey=$PEERS_DIR/portkey
portkey_server=$portkey/node_modules/@portkey-ai/gateway/build/start-server.js
if ! grep -qs "\"version\": \"$PORTKEY_VERSION\"" "$portkey/node_modules/@portkey-ai/gateway/package.json"; then
  echo "installing the Portkey gateway $PORTKEY_VERSION into $portkey (npm)…" >&2
  if ! command -v npm >/dev/null; then
    peer_note[portkey]="not installed: npm is not on PATH"
  else
    npm install --prefix "$portkey" --no-audit --no-fund --silent "@portkey-ai/gateway@$PORTKEY_VERSION" \
      >"$work/portkey-install.log" 2>&1 || peer_note[portkey]="not installed: $(tail -1 "$work/portkey-install.log")"
  fi
fi

# Starts a peer, waits (at most 180 s) until its check request answers 2xx, and records its
# start-up time and idle RSS; a peer that does not come up is skipped with its log's last line.
start_peer() { # name port command…
  local name=$1 port=$2 start_ns status
  shift 2
  start_ns=$(date +%s%N)
  "$@" >"$work/$name.log" 2>&1 &
  peer_pid[$name]=$!
  pids+=($!)
  url[peer-$name]="http://127.0.0.1:$port/v1/chat/completions"
  for _ in $(seq 1 3600); do
    status=$(curl -s -o "$work/$name.check" -w '%{http_code}' -X POST "${url[peer-$name]}" \
      -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-bench' \
      -H 'x-portkey-provider: openai' -H "x-portkey-custom-host: $direct/v1" \
      --data "${body/MODEL/bench-openai}" || true)
    if [[ $status == 2* ]]; then
      peer_ready[$name]=$(( ($(date +%s%N) - start_ns) / 1000000 ))
      peer_idle[$name]=$(awk '/VmRSS/ {print $2}' "/proc/${peer_pid[$name]}/status")
      peers+=("$name")
      return
    fi
    if ! kill -0 "${peer_pid[$name]}" 2>/dev/null || [[ $status =~ ^[45] ]]; then break; fi
    sleep 0.05
  done
  peer_note[$name]="did not answer 2xx (HTTP $status): $(tail -c 300 "$work/$name.check" "$work/$name.log" | tr '\n' ' ')"
  kill "${peer_pid[$name]}" 2>/dev/null || true
}

url[peer-ours]=${url[openai-gateway]}
cp "$work/openai-gateway.lua" "$work/peer-ours.lua"
if [ -z "${peer_note[litellm]:-}" ]; then
  cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: bench-openai
    litellm_params: {model: openai/bench-model, api_base: "$direct/v1", api_key: sk-bench}
YAML
  lua peer-litellm "${body/MODEL/bench-openai}" "Bearer sk-bench"
  port=$(free_port)
  start_peer litellm "$port" env LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true \
    LITELLM_LOCAL_MODEL_COST_MAP=True "$litellm/bin/litellm" --config "$work/litellm.yaml" \
    --host 127.0.0.1 --port "$port" --num_workers 1
fi
if [ -z "${peer_note[portkey]:-}" ]; then
  # Portkey routes by headers: the provider, and the upstream's base URL.
  lua peer-portkey "${body/MODEL/bench-model}" "Bearer sk-bench"
  printf 'wrk.headers["x-portkey-provider"] = "openai"\nwrk.headers["x-portkey-custom-host"] = "%s/v1"\n' \
    "$direct" >>"$work/peer-portkey.lua"
  port=$(free_port)
  start_peer portkey "$port" node "$portkey_server" --port="$port" --headless
fi

printf '\nThe OpenAI path through each gateway, the same nginx upstream, %ss per run, median of %s rounds\n\n' \
  "$DURATION" "$ROUNDS"
printf '%-8s %4s | %9s %7s | %8s %8s %8s | %6s | %9s | %8s\n' \
  gateway conc "req/s" "share" p50 p99 "+p99" errors "cpu µs/rq" "peak MiB"
printf -- '-%.0s' $(seq 1 96); echo
declare -A prps=() p50s=() p99s=() pcpu=() perr=()
for c in $CONCURRENCY; do
  for peer in "${peers[@]}"; do wrk -t1 -c"$c" -d1s -s "$work/peer-$peer.lua" "${url[peer-$peer]}" >/dev/null 2>&1; done
  drps=() d99=()
  for peer in "${peers[@]}"; do prps[$peer]="" p50s[$peer]="" p99s[$peer]="" pcpu[$peer]="" perr[$peer]=0; done
  for _ in $(seq 1 "$ROUNDS"); do
    read -r rps _ _ p99 _ _ <<<"$(measure openai-direct "$c")"
    drps+=("$rps") d99+=("$p99")
    for peer in "${peers[@]}"; do
      before=$(cpu_ticks "${peer_pid[$peer]}")
      read -r rps p50 _ p99 err requests <<<"$(measure "peer-$peer" "$c")"
      after=$(cpu_ticks "${peer_pid[$peer]}")
      prps[$peer]+=" $rps" p50s[$peer]+=" $p50" p99s[$peer]+=" $p99" perr[$peer]=$((perr[$peer] + err))
      pcpu[$peer]+=" $(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')"
    done
  done
  D=$(median "${drps[@]}") D99=$(median "${d99[@]}")
  for peer in "${peers[@]}"; do
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    R=$(median ${prps[$peer]}) P99=$(median ${p99s[$peer]})
    printf '%-8s %4s | %9.0f %7.3f | %8s %8s %8s | %6s | %9.1f | %8.1f\n' "$peer" "$c" "$R" \
      "$(awk -v r="$R" -v d="$D" 'BEGIN { print d ? r / d : 0 }')" "$(median ${p50s[$peer]})" "$P99" \
      "$(add "$P99" "$D99")" "${perr[$peer]}" "$(median ${pcpu[$peer]})" \
      "$(awk -v k="$(peak_rss "${peer_pid[$peer]}")" 'BEGIN { print k / 1024 }')"
    [ "$peer" = ours ] && total_errors=$((total_errors + perr[$peer]))
  done
  printf '%-8s %4s | %9.0f %7s |\n' direct "$c" "$D" 1
done
printf '\nshare = req/s over direct (nginx alone) in the same rounds; CPU and RSS of each gateway'\''s whole process tree\n'
for peer in litellm portkey; do
  if [ -n "${peer_note[$peer]:-}" ]; then
    printf '%s: skipped, %s\n' "$peer" "${peer_note[$peer]}"
  else
    printf '%s: start-up to ready %s ms, idle RSS %.1f MiB\n' "$peer" "${peer_ready[$peer]}" \
      "$(awk -v k="${peer_idle[$peer]}" 'BEGIN { print k / 1024 }')"
  fi
done
