#!/usr/bin/env python3
"""Gradient-balance decay rate vs learning rate (see README.md). Pure Python (no numpy).
usage: analyze.py OUT_DIR   (the directory run_grid.sh wrote: lr<LR>-s<SEED>/ and b<BATCH>-s<SEED>/ runs)
Imbalance m(t) = |balance(s).log_ratio| = |mean_i ln r_i|, r_i = |grad w_in,i|^2 / |grad w_out,i|^2, at t = lr * step.
rate = -slope of ln m(t) vs t (least squares over the diagnosed steps): decay per unit of lr*steps."""
import json, math, os, re, sys

def fit(xs, ys):
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs); sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx; a = my - b * mx
    ss = sum((y - my) ** 2 for y in ys); res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return b, a, (1 - res / ss) if ss > 0 else float("nan")

def run(d):
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
    rows = [r for r in rows if "balance(s).log_ratio" in r]
    lr = rows[0]["lr"]
    t = [lr * r["step"] for r in rows]
    m = [abs(r["balance(s).log_ratio"]) for r in rows]
    q = [r["balance(s)"] for r in rows]
    slope, _, r2 = fit(t, [math.log(v) for v in m])
    ends = math.log(m[0] / m[-1]) / (t[-1] - t[0])
    return dict(lr=lr, rate=-slope, ends=ends, r2=r2, m0=m[0], m1=m[-1], qdrift=abs(q[-1] - q[0]) / abs(q[0]),
                med0=rows[0]["balance(s).grad_ratio"], med1=rows[-1]["balance(s).grad_ratio"], T=t[-1])

out = sys.argv[1]
runs = {}
for name in sorted(os.listdir(out)):
    mt = re.fullmatch(r"(lr|b)([0-9.]+)-s(\d+)", name)
    if mt and os.path.exists(os.path.join(out, name, "summary.json")):
        runs[(mt[1], float(mt[2]), int(mt[3]))] = run(os.path.join(out, name))

print("| lr | seed | steps·lr | imbalance |mean ln r| first → last | median r first → last | rate (per unit lr·steps) | R² of exp fit | end-point rate | Q drift |")
print("|---|---|---|---|---|---|---|---|---|")
for (kind, v, s), r in sorted(runs.items()):
    if kind != "lr": continue
    print(f"| {v:g} | {s} | {r['T']:.2f} | {r['m0']:.3f} → {r['m1']:.3f} | {r['med0']:.2f} → {r['med1']:.2f} | {r['rate']:.4f} | {r['r2']:.3f} | {r['ends']:.4f} | {r['qdrift']:.3%} |")
lrs = [(r["lr"], r["rate"], r["qdrift"], r["ends"]) for (k, _, _), r in runs.items() if k == "lr"]
if len(lrs) >= 3:
    b, a, r2 = fit([x for x, _, _, _ in lrs], [y for _, y, _, _ in lrs])
    print(f"\nrate vs lr (all runs, n={len(lrs)}): rate = {b:.4f}·lr + {a:.4f}, R² = {r2:.3f}")
    b, a, r2 = fit([x for x, _, _, _ in lrs], [z for _, _, z, _ in lrs])
    print(f"end-point rate vs lr: rate = {fit([l[0] for l in lrs], [l[3] for l in lrs])[0]:.4f}·lr + {fit([l[0] for l in lrs], [l[3] for l in lrs])[1]:.4f}, R² = {fit([l[0] for l in lrs], [l[3] for l in lrs])[2]:.3f}")
    print(f"Q drift vs lr: drift = {b:.4f}·lr + {a:.5f}, R² = {r2:.3f}")
    for lr in sorted({x for x, _, _, _ in lrs}):
        rs = [y for x, y, _, _ in lrs if x == lr]; qs = [z for x, _, z, _ in lrs if x == lr]
        print(f"  lr {lr:g}: mean rate {sum(rs)/len(rs):.4f} (min {min(rs):.4f}, max {max(rs):.4f}); mean Q drift {sum(qs)/len(qs):.3%}")
print("\n| batch (lr 0.1) | seed | imbalance first → last | median r first → last | rate | R² | Q drift |")
print("|---|---|---|---|---|---|---|")
for (kind, v, s), r in sorted(runs.items()):
    if kind != "b": continue
    print(f"| {v:g} | {s} | {r['m0']:.3f} → {r['m1']:.3f} | {r['med0']:.2f} → {r['med1']:.2f} | {r['rate']:.3f} | {r['r2']:.2f} | {r['qdrift']:.2%} |")

print("\nPer seed (the seeds' gradient-flow rates differ, so the pooled fit mixes seeds):")
print("| seed | rate vs lr: slope | intercept (lr → 0) | R² | excess rate at the largest lr over the smallest | Q drift vs lr: slope | intercept | R² |")
print("|---|---|---|---|---|---|---|---|")
for seed in sorted({s for (k, _, s) in runs if k == "lr"}):
    rs = sorted((r["lr"], r["rate"], r["qdrift"]) for (k, _, s), r in runs.items() if k == "lr" and s == seed)
    if len(rs) < 3: continue
    b, a, r2 = fit([x for x, _, _ in rs], [y for _, y, _ in rs])
    qb, qa, qr2 = fit([x for x, _, _ in rs], [z for _, _, z in rs])
    print(f"| {seed} | {b:+.4f} | {a:.4f} | {r2:.3f} | {rs[-1][1] - rs[0][1]:+.4f} ({(rs[-1][1] - rs[0][1]) / rs[0][1]:+.1%}) | {qb:.5f} | {qa:+.6f} | {qr2:.4f} |")
