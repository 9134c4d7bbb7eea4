using SymDsl.IR;
using SymDsl.Torch.Measures;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>
/// balance(S). Rescale: Q_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖²; headline mean_i |Q_i|, .q_mean = mean_i Q_i (exactly
/// conserved by gradient flow), .grad_ratio = median_i r_i, .log_ratio = mean ln r_i. Rotation: headline
/// ‖C‖_F with C = S_F S_Fᵀ − S_I S_Iᵀ (W₁W₁ᵀ − W₂ᵀW₂), over blocks sqrt(Σ_b ‖C_b‖²_F); .grad_imbalance the rotation
/// gradient imbalance averaged over blocks. Gradients: those of the step just taken when available
/// (<see cref="DiagnosticsOptions.Gradients"/>), else the probe batch's.
/// </summary>
[MetricRuntime("balance")]
internal sealed class BalanceMetric(PlanScope s) : MetricRuntime(s)
{
    readonly SymmetryIR _sym = s.Sym();
    readonly IReadOnlyList<string> _parameters = s.Sym().Parameters.ToList();

    public override IReadOnlyList<string>? StepGradientParameters => _parameters;

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var sym = _sym;
        var grads = e.ParamGrads;
        if (sym.Kind == SymmetryKind.Rescale)
        {
            var (inSq, outSq) = e.Norms(sym); // Balance.RescaleConserved: Q_i = in_i − out_i
            // mean |Q_i| and mean Q_i, summed in index order as LINQ's Average does, without its per-element delegates.
            double absSum = 0, sum = 0;
            for (int k = 0; k < inSq.Length; k++) { double q = inSq[k] - outSq[k]; absSum += Math.Abs(q); sum += q; }
            yield return (Key, inSq.Length == 0 ? double.NaN : absSum / inSq.Length);
            yield return (Key + ".q_mean", inSq.Length == 0 ? double.NaN : sum / inSq.Length);
            var r = Balance.GradientRatio(sym, grads);
            yield return (Key + ".grad_ratio", r.Median);
            yield return (Key + ".log_ratio", r.MeanLogRatio);
            yield break;
        }
        var cs = Balance.ConservedMatrices(sym, e.Effective);
        yield return (Key, Math.Sqrt(cs.Sum(c => c.Cast<double>().Sum(x => x * x))));
        var f = UnitNorms.Slices(sym, grads, ActionRole.Forward);
        var i = UnitNorms.Slices(sym, grads, ActionRole.Inverse);
        if (f is null || i is null) { yield return (Key + ".grad_imbalance", double.NaN); yield break; }
        int n = sym.Dim, nb = Math.Max(1, sym.Blocks);
        var per = Enumerable.Range(0, nb).Select(b => Balance.RotationGradientImbalance(f.narrow(0, b * n, n), i.narrow(0, b * n, n).t())).Where(double.IsFinite).ToArray();
        yield return (Key + ".grad_imbalance", per.Length > 0 ? per.Average() : double.NaN);
    }
}
