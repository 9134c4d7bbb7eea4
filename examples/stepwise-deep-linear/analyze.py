#!/usr/bin/env python3
"""Half-times of each mode from RUN/metrics.jsonl vs the Saxe-McClelland-Ganguli prediction (see README.md).
usage: analyze.py RUN_DIR [--d 8] [--width 16] [--init-std 0.001] [--lr 0.2] [--top 2.0] [--ratio 0.7] [--rank 4]"""
import argparse, json, math, os

ap = argparse.ArgumentParser()
ap.add_argument("run"); ap.add_argument("--d", type=int, default=8); ap.add_argument("--width", type=int, default=16)
ap.add_argument("--init-std", type=float, default=0.001); ap.add_argument("--lr", type=float, default=0.2)
ap.add_argument("--top", type=float, default=2.0); ap.add_argument("--ratio", type=float, default=0.7)
ap.add_argument("--rank", type=int, default=4)
a = ap.parse_args()

rows = [json.loads(l) for l in open(os.path.join(a.run, "metrics.jsonl")) if l.strip()]
rows = [r for r in rows if "rank(y).sv1" in r]
tau = a.d / (2 * a.lr)                     # mse averages over d outputs: gradient = (2/d)(W - A)
u0 = a.width * a.init_std ** 2 / 2         # initial strength of the growing (balanced) part of each mode
print(f"tau = {tau:g} steps, u0 = {u0:.3g}")
print("mode  s_i     t_half measured  predicted  rel.err  t_i/t_1 measured  predicted")
t1m = t1p = None
for i in range(a.rank):
    s = a.top * a.ratio ** i
    key = f"rank(y).sv{i + 1}"
    final = rows[-1][key]
    t = None
    for p, q in zip(rows, rows[1:]):       # first crossing of half the final value, linearly interpolated
        if p[key] < final / 2 <= q[key]:
            t = p["step"] + (final / 2 - p[key]) / (q[key] - p[key]) * (q["step"] - p["step"]); break
    pred = tau / (2 * s) * math.log(s / u0 - 1)
    if i == 0: t1m, t1p = t, pred
    print(f"{i + 1:4d}  {s:.3f}  {t:15.1f}  {pred:9.1f}  {(t - pred) / pred:+7.1%}  {t / t1m:16.2f}  {pred / t1p:9.2f}")
