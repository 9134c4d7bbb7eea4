#!/usr/bin/env bash
# Soak: long trainings with a checkpoint every 20 steps and the model's diagnostics on, several times, with and
# without a small first GC generation (DOTNET_GCgen0size=0x40000, which makes collections, and so finalizers, run
# all the time). Before the NativeSection fix such runs died between steps 3,500 and 26,000 with "Unknown scalar
# type" / "Expected false to be true … toFloat" (a TorchSharp Scalar freed by the finalizer during a libtorch call).
#
#   bench/soak.sh [STEPS] [RUNS] [FILE]      defaults: 100000 steps, 2 runs per variant, examples/mlp.sym
#   SOAK_VARIANTS="gc0 plain" SOAK_OUT=DIR SOAK_PARALLEL=1 bench/soak.sh
#
# Prints one line per run (variant, seed, exit code, steps reached, wall seconds, the NativeSection counters) and a
# closing "N passed, N failed". Runs nice'd; run it in the background on a shared machine.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
steps="${1:-100000}"
runs="${2:-2}"
file="${3:-$root/examples/mlp.sym}"
out="${SOAK_OUT:-$(mktemp -d /tmp/symdsl-soak.XXXXXX)}"
variants="${SOAK_VARIANTS:-gc0 plain}"
"$root/symc" --help > /dev/null || { echo "soak: symc does not build" >&2; exit 3; }
dll="$root/.build/symc/symc.dll"
mkdir -p "$out"
echo "soak: $steps steps x $runs runs per variant ($variants), checkpoint every 20, $(basename "$file") → $out"

one() {
  local variant="$1" seed="$2" dir="$out/$1-seed$2" start end rc env=()
  [ "$variant" = gc0 ] && env=(DOTNET_GCgen0size=0x40000)
  start=$(date +%s.%N)
  env "${env[@]}" SYMC_GC_STATS=1 nice -n 10 dotnet "$dll" train "$file" --steps "$steps" --checkpoint-every 20 --seed "$seed" \
    --out "$dir" > "$dir.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  local reached
  reached=$(grep -o '"step":[0-9]*' "$dir/metrics.jsonl" 2>/dev/null | tail -1 | cut -d: -f2)
  local stats
  stats=$(grep -o 'native sections: .*' "$dir.log" | head -1)
  local verdict=PASS
  { [ "$rc" -ne 0 ] || [ "${reached:-0}" -ne "$steps" ]; } && verdict=FAIL
  printf '%s variant=%s seed=%s exit=%s steps=%s/%s wall=%.0fs %s%s\n' "$verdict" "$variant" "$seed" "$rc" "${reached:-0}" "$steps" \
    "$(awk "BEGIN{print $end - $start}")" "$stats" "$([ "$verdict" = FAIL ] && echo " :: $(tail -1 "$dir.log")")"
}

mkdir -p "$out"
results="$out/results.txt"
: > "$results"
pids=()
for variant in $variants; do
  for ((i = 1; i <= runs; i++)); do
    if [ "${SOAK_PARALLEL:-1}" = 1 ]; then one "$variant" "$i" >> "$results" & pids+=($!); else one "$variant" "$i" | tee -a "$results"; fi
  done
done
for p in "${pids[@]}"; do wait "$p"; done
[ "${SOAK_PARALLEL:-1}" = 1 ] && cat "$results"
echo "$(grep -c '^PASS' "$results") passed, $(grep -c '^FAIL' "$results") failed"
[ "$(grep -c '^FAIL' "$results")" -eq 0 ]
