#!/usr/bin/env bash
# Kill -9 / resume soak for `symc train`: trains a model once without interruption, then again while killing it with
# SIGKILL at random moments (start-up, training steps, checkpoint writes) and resuming after each kill, and checks that
# the interrupted run ends byte-identical to the uninterrupted one (metrics.jsonl, weights.dat) with no temporary
# files left. The short version of this is tests/SymDsl.Cli.Tests/CrashSafetyTests.cs (which also reads TensorBoard back).
#
# usage: bench/kill-resume-soak.sh [KILLS (30)] [STEPS (600)] [CHECKPOINT_EVERY (1)] [FILE (examples/mlp.sym)]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kills="${1:-30}"; steps="${2:-600}"; every="${3:-1}"; file="${4:-$root/examples/mlp.sym}"
symc="$root/symc"
"$symc" --help > /dev/null # build once, outside the timings
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
args=(train "$file" --steps "$steps" --checkpoint-every "$every" --threads 1)

start=$SECONDS
"$symc" "${args[@]}" --out "$work/full" > "$work/full.log" 2>&1 || { echo "the uninterrupted run failed:"; tail -n 3 "$work/full.log"; exit 1; }
span=$((SECONDS - start))
full_lines="$(wc -l < "$work/full/metrics.jsonl")"
echo "uninterrupted: $span s"

lines() { [ -f "$work/killed/metrics.jsonl" ] && wc -l < "$work/killed/metrics.jsonl" || echo 0; }
for ((k = 1; k <= kills; k++)); do
  resume=(); [ -f "$work/killed/checkpoint.bin" ] && resume=(--resume)
  dotnet "$root/.build/symc/symc.dll" "${args[@]}" --out "$work/killed" "${resume[@]}" > "$work/run.log" 2>&1 &
  pid=$!
  # anywhere in a process's life: start-up (a few seconds), steps, checkpoint writes (scaled to what is left of the run)
  left="$(awk -v done="$(lines)" -v all="$full_lines" 'BEGIN { printf "%.3f", (all - done) / all }')"
  sleep "$(awk -v s="$RANDOM" -v span="$span" -v left="$left" 'BEGIN { srand(s); printf "%.3f", 0.5 + 0.9 * span * (left > 0.1 ? left : 0.1) * rand() }')"
  if kill -9 "$pid" 2> /dev/null; then
    wait "$pid" 2> /dev/null || true
    echo "kill $k: metrics lines $(lines), temporary files $(find "$work/killed" -maxdepth 1 -name '*.tmp' | wc -l)"
  else
    wait "$pid" || { echo "run $k failed:"; cat "$work/run.log"; exit 1; }
    echo "kill $k: too late, the run had finished"; break
  fi
done
"$symc" "${args[@]}" --out "$work/killed" --resume > "$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }

status=0
cmp -s "$work/full/metrics.jsonl" "$work/killed/metrics.jsonl" && echo "metrics.jsonl: identical" || { echo "metrics.jsonl: DIFFERENT"; status=1; }
cmp -s "$work/full/weights.dat" "$work/killed/weights.dat" && echo "weights.dat: identical" || { echo "weights.dat: DIFFERENT"; status=1; }
left="$(find "$work/killed" -name '*.tmp' | wc -l)"
[ "$left" = 0 ] && echo "temporary files left: 0" || { echo "temporary files left: $left"; status=1; }
exit $status
