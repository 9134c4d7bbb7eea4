using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Symmetry;

/// <summary>What the verifier compares between f(θ) and f(g·θ).</summary>
public enum OutputComparison
{
    /// <summary>The raw outputs.</summary>
    Raw,
    /// <summary>
    /// Outputs minus their mean over the last dimension (per example). Equal exactly when the softmax / log-softmax over the
    /// last dimension are equal up to a per-example constant shift of the logits — what translation symmetry preserves.
    /// </summary>
    ShiftInvariant,
}

/// <summary>The outcome of <see cref="SymmetryVerifier.Verify"/>.</summary>
/// <param name="Symmetry">The symmetry's name.</param>
/// <param name="Comparison">What was compared.</param>
/// <param name="TrialErrors">Per trial: max |f(g·θ) − f(θ)| / max(max |f(θ)|, 1e-300) (after the comparison transform).</param>
/// <param name="MaxRelativeError">The largest trial error.</param>
/// <param name="MaxParameterChange">The largest relative change max|g·θ − θ|/max|θ| over acted-on parameters, over trials
/// (a check that the trials moved the parameters at all).</param>
/// <param name="Tolerance">The tolerance <see cref="Holds"/> uses.</param>
public sealed record VerificationResult(string Symmetry, OutputComparison Comparison, IReadOnlyList<double> TrialErrors,
    double MaxRelativeError, double MaxParameterChange, double Tolerance)
{
    public bool Holds => MaxRelativeError <= Tolerance;
}

/// <summary>Numerical check of a declared parameter symmetry: f(g·θ) = f(θ) for random g.</summary>
public static class SymmetryVerifier
{
    /// <summary>The default comparison for a kind: <see cref="OutputComparison.ShiftInvariant"/> for translation, else raw.</summary>
    public static OutputComparison DefaultComparison(SymmetryKind kind) =>
        kind == SymmetryKind.Translation ? OutputComparison.ShiftInvariant : OutputComparison.Raw;

    /// <summary>
    /// Draw <paramref name="trials"/> group elements (<see cref="GroupActions.Sample"/>, seeded with <paramref name="seed"/>),
    /// apply each to <paramref name="parameters"/> and compare forward(g·θ) with forward(θ). The forward function is the
    /// caller's (e.g. the lowered model on a fixed probe batch, in float64); it is called without autograd.
    /// Relative error per trial = max |y' − y| / max |y| with y, y' transformed by <paramref name="comparison"/>
    /// (default by kind, <see cref="DefaultComparison"/>). <see cref="VerificationResult.Holds"/> is error ≤ tolerance
    /// (1e-8 suits float64; use ~1e-4 for float32).
    /// </summary>
    public static VerificationResult Verify(SymmetryIR sym, Func<IReadOnlyDictionary<string, Tensor>, Tensor> forward,
        IReadOnlyDictionary<string, Tensor> parameters, int trials, int seed = 12345, double scale = 0.5,
        OutputComparison? comparison = null, double tolerance = 1e-8, RotationGroup rotation = RotationGroup.General)
    {
        ArgumentNullException.ThrowIfNull(sym);
        ArgumentNullException.ThrowIfNull(forward);
        if (trials <= 0) throw new ArgumentOutOfRangeException(nameof(trials));
        var cmp = comparison ?? DefaultComparison(sym.Kind);
        var rng = new Random(seed);
        var errors = new List<double>();
        double maxParamChange = 0;
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var y0 = Transform(forward(parameters).detach().to(ScalarType.Float64), cmp);
        double denom = Math.Max(y0.abs().max().item<double>(), 1e-300);
        for (int t = 0; t < trials; t++)
        {
            using var trialScope = torch.NewDisposeScope();
            var g = GroupActions.Sample(sym, rng, scale, rotation);
            var moved = GroupActions.Apply(sym, g, parameters);
            foreach (var name in sym.Parameters)
            {
                var before = parameters[name].detach().to(ScalarType.Float64);
                var after = moved[name].to(ScalarType.Float64);
                double pd = Math.Max(before.abs().max().item<double>(), 1e-300);
                maxParamChange = Math.Max(maxParamChange, (after - before).abs().max().item<double>() / pd);
            }
            var y1 = Transform(forward(moved).detach().to(ScalarType.Float64), cmp);
            if (!y1.shape.SequenceEqual(y0.shape))
                throw new InvalidOperationException($"forward returned shape [{string.Join(",", y1.shape)}] after the action, [{string.Join(",", y0.shape)}] before");
            errors.Add((y1 - y0).abs().max().item<double>() / denom);
        }
        return new VerificationResult(sym.Name, cmp, errors, errors.Max(), maxParamChange, tolerance);
    }

    private static Tensor Transform(Tensor y, OutputComparison cmp) => cmp switch
    {
        OutputComparison.Raw => y,
        OutputComparison.ShiftInvariant => y.dim() == 0 ? y - y : y - y.mean(new long[] { -1 }, keepdim: true),
        _ => throw new ArgumentOutOfRangeException(nameof(cmp)),
    };
}
