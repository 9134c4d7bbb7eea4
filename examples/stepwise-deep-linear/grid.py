#!/usr/bin/env python3
"""Predicted vs measured half-times of each mode, deep linear nets of depth 2 and 3 (issue 17).

Usage (from the repository root; runs go to OUT, default /tmp/stepwise-grid):
    python3 examples/stepwise-deep-linear/grid.py [OUT] [--seeds 1,2,3] [--quick]

For each depth (stepwise.sym: 2 layers, stepwise3.sym: 3 layers), spectrum (top·ratio^i, ratio 0.5 and 0.7, rank 4) and
initial scale it writes a variant of the example file (data line and steps replaced), trains it with `symc train --seeds`
and reads per seed:
  - the rank(y) events of summary.json: the count must equal the target rank (4) and the modes come strongest first;
  - the measured half-time of mode k: the last upward crossing of half the final value of rank(y).svK, interpolated
    linearly between the 5-step samples (the event rule of ModeEvents, with interpolation);
  - the prediction: balanced deep-linear dynamics τ u̇ = N u^{2−2/N} (s − u) (N = depth; N = 2 is Saxe et al. 2014's
    τ u̇ = 2u(s − u)), τ = d / (2·lr) in steps (mse averages over the d outputs), integrated numerically from u₀ to s/2:
    t_half = (τ/N) ∫_{u₀}^{s/2} du / (u^{2−2/N} (s − u)),
    u₀ = (σ²·w/2)^{N/2} (N = 2: the README's w·σ²/2; N > 2: the same per-layer factor σ·√(w/2), a heuristic).
Prints a markdown table (one row per depth/spectrum/init/mode; measured per seed) and a summary line per configuration.
"""
import json, math, os, re, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EX = os.path.join(ROOT, "examples", "stepwise-deep-linear")
D, WIDTH, RANK = 8, 16, 4

# depth -> (file, lr, steps, top, init scales)
CONFIGS = {
    2: ("stepwise.sym", 0.2, 300, 2.0, [0.001, 0.01]),
    3: ("stepwise3.sym", 0.5, 600, 1.0, [0.05, 0.1]),
}
RATIOS = [0.5, 0.7]


def predicted(s, depth, lr, sigma, width=WIDTH, d=D):
    tau = d / (2 * lr)
    u0 = (sigma * sigma * width / 2) ** (depth / 2)
    lo, hi, n = math.log(u0), math.log(s / 2), 4000
    h = (hi - lo) / n
    f = lambda x: math.exp(x) / (math.exp(x * (2 - 2 / depth)) * (s - math.exp(x)))
    total = f(lo) + f(hi) + sum((4 if i % 2 else 2) * f(lo + i * h) for i in range(1, n))
    return tau / depth * total * h / 3


def half_time(series):
    final = series[-1][1]
    half = final / 2
    last = max((i for i, (_, v) in enumerate(series) if v < half), default=-1)
    if last < 0 or last + 1 >= len(series):
        return float("nan")
    (t0, v0), (t1, v1) = series[last], series[last + 1]
    return t0 + (half - v0) / (v1 - v0) * (t1 - t0)


def variant(depth, ratio, top, steps):
    src = open(os.path.join(EX, CONFIGS[depth][0])).read()
    src = re.sub(r"top = [0-9.]+, ratio = [0-9.]+", f"top = {top}, ratio = {ratio}", src)
    src = re.sub(r"steps\s+\d+", f"steps     {steps}", src)
    return src


def main():
    args = sys.argv[1:]
    seeds = "1,2,3"
    if "--seeds" in args:
        i = args.index("--seeds"); seeds = args[i + 1]; del args[i:i + 2]
    quick = "--quick" in args
    if quick: args.remove("--quick")
    out = args[0] if args else "/tmp/stepwise-grid"
    os.makedirs(out, exist_ok=True)
    symc = os.path.join(ROOT, "symc")
    print("| depth | ratio | init σ | steps | mode | sᵢ | predicted | measured (per seed) | events per seed (count, order) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for depth, (file, lr, _, top, inits) in CONFIGS.items():
        for ratio in RATIOS:
            for sigma in (inits[:1] if quick else inits):
                # long enough for the weakest mode: at least the file's steps and 2× its predicted half-time
                weakest = predicted(top * ratio ** (RANK - 1), depth, lr, sigma)
                steps = max(CONFIGS[depth][2], int(math.ceil(2 * weakest / 50)) * 50)
                name = f"d{depth}-r{ratio}-s{sigma}-n{steps}"
                sym = os.path.join(out, name + ".sym")
                open(sym, "w").write(variant(depth, ratio, top, steps))
                runs = os.path.join(out, name)
                if not os.path.exists(os.path.join(runs, f"seed-{seeds.split(',')[-1]}", "summary.json")):
                    subprocess.run([symc, "train", sym, "--seeds", seeds, "--parallel", "3", "--set", f"init_std={sigma}", "--out", runs],
                                   check=True, stdout=subprocess.DEVNULL)
                measured, verdicts = {}, []
                for seed in seeds.split(","):
                    run = os.path.join(runs, f"seed-{seed}")
                    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
                    rows = [r for r in rows if "rank(y).sv1" in r]
                    for k in range(1, RANK + 1):
                        measured.setdefault(k, []).append(half_time([(r["step"], r[f"rank(y).sv{k}"]) for r in rows]))
                    ev = [e["value"] for e in json.load(open(os.path.join(run, "summary.json")))["events"] if e["kind"] == "rank(y)"]
                    verdicts.append(f"{len(ev)} {'in order' if ev == sorted(ev) else 'OUT OF ORDER ' + str(ev)}")
                for k in range(1, RANK + 1):
                    s = top * ratio ** (k - 1)
                    p = predicted(s, depth, lr, sigma)
                    m = " / ".join(f"{t:.1f} ({(t - p) / p * 100:+.0f} %)" for t in measured[k])
                    print(f"| {depth} | {ratio} | {sigma} | {steps} | {k} | {s:.3f} | {p:.1f} | {m} | {'; '.join(verdicts) if k == 1 else ''} |", flush=True)


if __name__ == "__main__":
    main()
