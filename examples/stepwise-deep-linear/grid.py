#!/usr/bin/env python3
"""Predicted vs measured half-times of each mode, deep linear nets of depth 2 and 3 (issue 17).

Usage (from the repository root; runs go to OUT, default /tmp/stepwise-grid):
    python3 examples/stepwise-deep-linear/grid.py [OUT] [--seeds 1,2,3] [--spectra 0.5,0.7,gaps] [--quick]

For each depth (stepwise.sym: 2 layers, stepwise3.sym: 3 layers), spectrum (top·ratio^i with ratio 0.5 and 0.7, and equal
gaps top·(1 − i/4) through lowrank_regression's `spectrum` argument; rank 4) and initial scale it writes a variant of the
example file (data line and steps replaced), trains it with `symc train --seeds` and reads per seed:
  - the rank(y) events of summary.json: the count must equal the target rank (4) and the modes come strongest first;
  - the measured half-time of mode k: the last upward crossing of half the final value of rank(y).svK, interpolated
    linearly between the 5-step samples (the event rule of ModeEvents, with interpolation);
  - the prediction: balanced deep-linear dynamics τ u̇ = N u^{2−2/N} (s − u) (N = depth; N = 2 is Saxe et al. 2014's
    τ u̇ = 2u(s − u)), τ = d / (2·lr) in steps (mse averages over the d outputs), integrated numerically from u₀ to s/2:
    t_half = (τ/N) ∫_{u₀}^{s/2} du / (u^{2−2/N} (s − u)),
    u₀ = (σ²·w/2)^{N/2} (N = 2: the README's w·σ²/2; N > 2: the same per-layer factor σ·√(w/2), a heuristic).
  - the final numerical rank (rank(y).numerical: singular values above 0.05·s₁), which should equal the target rank.
Prints a markdown table (one row per depth/spectrum/init/mode; measured per seed; per configuration the event count,
order and final numerical rank of each seed) and writes OUT/grid.json (the same numbers; GalleryFigures.DrawStepwiseGrid
draws figure.png from it).
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
# spectrum name -> the singular values given the depth's top: geometric top·ratio^i (ratio 0.5, 0.7) and equal gaps
# top·(1 − i/rank) (depth 3: 1, 0.75, 0.5, 0.25; depth 2: 2, 1.5, 1, 0.5), the latter through lowrank_regression's `spectrum`.
SPECTRA = {
    "0.5": lambda top: [top * 0.5 ** i for i in range(RANK)],
    "0.7": lambda top: [top * 0.7 ** i for i in range(RANK)],
    "gaps": lambda top: [top * (1 - i / RANK) for i in range(RANK)],
}


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


def variant(depth, spectrum, top, steps):
    src = open(os.path.join(EX, CONFIGS[depth][0])).read()
    values = SPECTRA[spectrum](top)
    args = f"top = {top}, ratio = {spectrum}" if spectrum != "gaps" else "spectrum = [" + ", ".join(f"{v:g}" for v in values) + "]"
    src = re.sub(r"top = [0-9.]+, ratio = [0-9.]+", args, src)
    src = re.sub(r"steps\s+\d+", f"steps     {steps}", src)
    return src


def main():
    args = sys.argv[1:]
    seeds = "1,2,3"
    if "--seeds" in args:
        i = args.index("--seeds"); seeds = args[i + 1]; del args[i:i + 2]
    spectra = list(SPECTRA)
    if "--spectra" in args:
        i = args.index("--spectra"); spectra = args[i + 1].split(","); del args[i:i + 2]
    quick = "--quick" in args
    if quick: args.remove("--quick")
    out = args[0] if args else "/tmp/stepwise-grid"
    os.makedirs(out, exist_ok=True)
    symc = os.path.join(ROOT, "symc")
    rows_out, configs_out = [], []
    print("| depth | spectrum | init σ | steps | mode | sᵢ | predicted | measured (per seed) | events per seed (count, order; final numerical rank) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for depth, (file, lr, _, top, inits) in CONFIGS.items():
        for spectrum in spectra:
            values = SPECTRA[spectrum](top)
            for sigma in (inits[:1] if quick else inits):
                # long enough for the weakest mode: at least the file's steps and 2× its predicted half-time
                weakest = predicted(min(values), depth, lr, sigma)
                steps = max(CONFIGS[depth][2], int(math.ceil(2 * weakest / 50)) * 50)
                name = f"d{depth}-r{spectrum}-s{sigma}-n{steps}"
                sym = os.path.join(out, name + ".sym")
                open(sym, "w").write(variant(depth, spectrum, top, steps))
                runs = os.path.join(out, name)
                if not os.path.exists(os.path.join(runs, f"seed-{seeds.split(',')[-1]}", "summary.json")):
                    subprocess.run([symc, "train", sym, "--seeds", seeds, "--parallel", "3", "--threads", "1", "--set", f"init_std={sigma}", "--out", runs],
                                   check=True, stdout=subprocess.DEVNULL)
                measured, verdicts, runs_out = {}, [], []
                for seed in seeds.split(","):
                    run = os.path.join(runs, f"seed-{seed}")
                    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
                    rows = [r for r in rows if "rank(y).sv1" in r]
                    for k in range(1, RANK + 1):
                        measured.setdefault(k, []).append(half_time([(r["step"], r[f"rank(y).sv{k}"]) for r in rows]))
                    events = [e for e in json.load(open(os.path.join(run, "summary.json")))["events"] if e["kind"] == "rank(y)"]
                    ev = [e["value"] for e in events]
                    numerical = rows[-1].get("rank(y).numerical")
                    verdicts.append(f"{len(ev)} {'in order' if ev == sorted(ev) else 'OUT OF ORDER ' + str(ev)}; rank {numerical:g}")
                    runs_out.append({"seed": int(seed), "events": ev, "event_steps": [e["step"] for e in events],
                                     "in_order": ev == sorted(ev), "numerical_rank": numerical})
                for k in range(1, RANK + 1):
                    s = values[k - 1]
                    p = predicted(s, depth, lr, sigma)
                    m = " / ".join(f"{t:.1f} ({(t - p) / p * 100:+.0f} %)" for t in measured[k])
                    label = "equal gaps" if spectrum == "gaps" else f"ratio {spectrum}"
                    print(f"| {depth} | {label} | {sigma} | {steps} | {k} | {s:.3f} | {p:.1f} | {m} | {'; '.join(verdicts) if k == 1 else ''} |", flush=True)
                    rows_out.append({"depth": depth, "spectrum": spectrum, "sigma": sigma, "steps": steps, "mode": k, "s": s,
                                     "predicted": p, "measured": measured[k], "seeds": [int(x) for x in seeds.split(",")]})
                configs_out.append({"depth": depth, "spectrum": spectrum, "sigma": sigma, "steps": steps, "values": values, "runs": runs_out})
    with open(os.path.join(out, "grid.json"), "w") as f:
        json.dump({"rows": rows_out, "configs": configs_out}, f, indent=1)


if __name__ == "__main__":
    main()
