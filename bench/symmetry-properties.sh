#!/usr/bin/env bash
# Property tests of symmetry inference at scale (issue 10, item 5): COUNT seeded random models (default 2,000) from
# tests/SymDsl.Torch.Tests/Properties/ModelGenerator.cs, each lowered in float64 and checked: (a) every symmetry the
# inference says holds verifies (relative error <= 1e-8 when exact, 1e-3 when approximate); (b) every candidate it denies
# does not verify under random group elements, every "does not hold" names a necessary obstacle, and a numerical search
# over each model's unit spaces (permutation, rescale, sign, rotation) finds no symmetry the inference did not claim.
# Prints and writes bench/out/symmetry-properties.txt (counts, then every failure with its model text). The test suite
# runs the same checks on seeds 1..100 (SymmetryPropertyTests.Inferred_symmetries_verify_and_no_symmetry_is_missed).
# THREADS models are checked at a time (default 2: each model is single-threaded).
#   bench/symmetry-properties.sh [COUNT] [FIRST_SEED] [THREADS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count="${1:-2000}"
seed="${2:-1}"
threads="${3:-2}"
mkdir -p "$root/bench/out"
# SYMDSL_SYMPROP_CONV=1: the generator's conv nets (Conv1d/Conv2d, pooling, flatten) instead; report symmetry-properties-conv.txt.
report="$root/bench/out/symmetry-properties${SYMDSL_SYMPROP_CONV:+-conv}.txt"
rm -f "$report"
status=0
SYMDSL_SYMPROP_COUNT="$count" SYMDSL_SYMPROP_SEED="$seed" SYMDSL_SYMPROP_THREADS="$threads" SYMDSL_SYMPROP_REPORT="$report" \
  dotnet test "$root/tests/SymDsl.Torch.Tests" -nologo \
  --filter "FullyQualifiedName~SymmetryPropertyTests.Sweep" || status=$?
if [ -f "$report" ]; then
  { echo "bench/symmetry-properties.sh $count $seed ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $threads threads, commit $(git -C "$root" rev-parse --short HEAD))"; cat "$report"; } > "$report.tmp" && mv "$report.tmp" "$report"
  sed -n '1,13p' "$report"
fi
exit "$status"
