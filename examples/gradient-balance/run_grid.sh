#!/usr/bin/env bash
# Runs the gradient-balance grid into ${OUT:-runs/balance} (relative to the repository root): learning rates at equal lr*steps (T = 4), full batch,
# seeds 1-3; and minibatch noise at lr 0.1 (batch 16, 64, 256). Then: python3 analyze.py $OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/balance}
f=examples/gradient-balance/balance.sym
part=${1:-all}
if [[ $part == all || $part == lr ]]; then
  for seed in 1 2 3; do
    for spec in 0.025:160:16 0.05:80:8 0.1:40:4 0.2:20:2 0.4:10:1; do
      IFS=: read lr steps k <<<"$spec"
      d=$OUT/lr$lr-s$seed
      [[ -f $d/summary.json ]] || nice -n 5 ./symc train $f --seed $seed --steps $steps --set lr=$lr --set k=$k --out $d >/dev/null
    done
  done
fi
if [[ $part == all || $part == noise ]]; then
  for seed in 1 2 3; do
    for b in 16 64 256; do
      d=$OUT/b$b-s$seed
      [[ -f $d/summary.json ]] || nice -n 5 ./symc train $f --seed $seed --steps 40 --set lr=0.1 --set k=4 --set batch_size=$b --out $d >/dev/null
    done
  done
fi
