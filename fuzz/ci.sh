#!/usr/bin/env bash
# CI fuzzing: builds every cargo-fuzz target, then runs each for FUZZ_SECONDS (default 20) from
# the committed corpus. Exits non-zero if any target finds a crash, a panic, a leak or a timeout;
# the input that did it is left in fuzz/artifacts/<target>/ and printed.
#
# The toolchain is stable: cargo-fuzz needs nightly-only flags (-Zsanitizer, sancov passes), so
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. New inputs found during the run go to a
# scratch directory, so the committed corpus is only read.
#
#   fuzz/ci.sh                        # all targets, 20 s each
#   FUZZ_SECONDS=120 fuzz/ci.sh       # longer
#   fuzz/ci.sh chat_request           # some targets only
#   FUZZ_SANITIZER=none fuzz/ci.sh    # without AddressSanitizer
set -euo pipefail
cd "$(dirname "$0")"

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
seconds="${FUZZ_SECONDS:-20}"
# The same build flags for `build` and `run`, so `run` does not rebuild. FUZZ_SANITIZER=none
# builds without AddressSanitizer (for toolchains that lack its runtime).
build_flags=(--codegen-units 16 --sanitizer "${FUZZ_SANITIZER:-address}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

nice -n 10 cargo fuzz build "${build_flags[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s"
  mkdir -p "$scratch/$target" "corpus/$target"
  if ! nice -n 10 cargo fuzz run "${build_flags[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2>"$scratch/$target.log"; then
    failed+=("$target")
    tail -n 60 "$scratch/$target.log"
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|^#[0-9]+[[:space:]]+DONE' \
    "$scratch/$target.log" || true
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no findings"
