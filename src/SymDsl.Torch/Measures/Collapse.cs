using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>How <see cref="Collapse.Units"/> turns its tolerance into a threshold on the per-unit products.</summary>
public enum CollapseThreshold
{
    /// <summary>threshold = tol.</summary>
    Absolute,
    /// <summary>threshold = tol · max_j product_j (robust when most units have collapsed; the default).</summary>
    RelativeToMax,
    /// <summary>threshold = tol · median_j product_j (meaningless once half the units have collapsed).</summary>
    RelativeToMedian,
}

/// <summary>Per-unit collapse report.</summary>
/// <param name="Products">p_i = ‖(w_in,i, b_i)‖ · ‖w_out,i‖ per unit.</param>
/// <param name="InNorms">‖(w_in,i, b_i)‖ per unit.</param>
/// <param name="OutNorms">‖w_out,i‖ per unit.</param>
/// <param name="Threshold">The threshold used: unit i is collapsed iff p_i ≤ Threshold.</param>
/// <param name="CollapsedUnits">Indices of collapsed units, ascending.</param>
public sealed record CollapseResult(double[] Products, double[] InNorms, double[] OutNorms, double Threshold, int[] CollapsedUnits)
{
    public int Count => CollapsedUnits.Length;
    public double Fraction => Products.Length == 0 ? 0 : (double)Count / Products.Length;
}

/// <summary>
/// Rescale / sign collapse (Ziyin 2024, "Symmetry Induces Structure and Constraint of Learning"; science.md): the mirror's
/// fixed point of unit i is w_in,i = 0, b_i = 0 and w_out,i = 0 — the unit is removed from the function. Measured by
/// the product of the in- and out-norms, which is invariant under the rescale action (c·‖w_in‖ · ‖w_out‖/c).
/// </summary>
public static class Collapse
{
    /// <summary>
    /// Per unit i: p_i = ‖(w_in,i, b_i)‖₂ · ‖w_out,i‖₂ with w_in,i row i of <paramref name="wIn"/> [n, in],
    /// b_i entry i of <paramref name="bIn"/> [n] (optional), w_out,i column i of <paramref name="wOut"/> [out, n].
    /// Unit i is collapsed iff p_i ≤ threshold, threshold from <paramref name="tol"/> per <paramref name="mode"/>
    /// (default: tol · max_j p_j). All-zero layer: every unit collapsed.
    /// </summary>
    public static CollapseResult Units(Tensor wIn, Tensor? bIn, Tensor wOut, double tol = 1e-3, CollapseThreshold mode = CollapseThreshold.RelativeToMax)
    {
        var (inSq, outSq) = UnitNorms.Squared(wIn, bIn, wOut);
        return FromSquaredNorms(inSq, outSq, tol, mode);
    }

    /// <summary><see cref="Units"/> for any unit-wise symmetry (rescale, sign): in = Forward slices, out = Inverse slices (<see cref="UnitNorms.FromSymmetry"/>).</summary>
    public static CollapseResult FromSymmetry(SymDsl.IR.SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters, double tol = 1e-3, CollapseThreshold mode = CollapseThreshold.RelativeToMax)
    {
        var (inSq, outSq) = UnitNorms.FromSymmetry(sym, parameters);
        return FromSquaredNorms(inSq, outSq, tol, mode);
    }

    /// <summary><see cref="Units"/> from squared per-unit in- and out-norms (e.g. from <see cref="UnitNorms.FromSymmetry"/>).</summary>
    public static CollapseResult FromSquaredNorms(double[] inSq, double[] outSq, double tol = 1e-3, CollapseThreshold mode = CollapseThreshold.RelativeToMax)
    {
        if (inSq.Length != outSq.Length) throw new ArgumentException("in and out norms differ in length");
        // Plain loops (the same operations per element as the former LINQ, a few µs at 4096 units instead of hundreds).
        int n = inSq.Length;
        var inN = new double[n];
        var outN = new double[n];
        var prod = new double[n];
        for (int i = 0; i < n; i++)
        {
            inN[i] = Math.Sqrt(inSq[i]);
            outN[i] = Math.Sqrt(outSq[i]);
            prod[i] = inN[i] * outN[i];
        }
        double threshold = mode switch
        {
            CollapseThreshold.Absolute => tol,
            CollapseThreshold.RelativeToMax => tol * (prod.Length == 0 ? 0 : prod.Max()),
            CollapseThreshold.RelativeToMedian => tol * TensorMath.Median(prod),
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
        var collapsed = new List<int>();
        for (int i = 0; i < n; i++)
            if (prod[i] <= threshold) collapsed.Add(i);
        return new CollapseResult(prod, inN, outN, threshold, collapsed.ToArray());
    }

    /// <summary>
    /// Dead units: indices i with |a_ni| ≤ <paramref name="tol"/> for every example n of the probe batch
    /// (<paramref name="activations"/> [N, n], post-activation). For relu, pass tol = 0: never active.
    /// <para>
    /// <paramref name="unitAxis"/> is the unit axis of one example's shape (docs/language.md, "The unit axis"; −1, the
    /// last, for a Linear site; 0, the channels, for a conv site [C, L] or [C, H, W]). The other axes are extra samples:
    /// a channel is dead when it is inactive at every position of every example.
    /// </para>
    /// </summary>
    public static int[] DeadUnits(Tensor activations, double tol = 0.0, int unitAxis = -1)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var a = activations.detach();
        int perExample = (int)a.dim() - 1;
        int axis = unitAxis < 0 ? unitAxis + perExample : unitAxis;
        if (perExample < 1 || axis < 0 || axis >= perExample)
            throw new ArgumentException($"unit axis {unitAxis} is not an axis of an example of shape [{string.Join(", ", a.shape.Skip(1))}]");
        // max_n |a_n| = max(max_n a_n, −min_n a_n), reduced over every axis but the unit axis in the activations' own dtype
        // (no float64 copy and no |a| temporary of the whole batch; max, min and negation are exact, NaN propagates): only
        // the per-unit result is converted to float64.
        var others = Enumerable.Range(0, (int)a.dim()).Where(d => d != axis + 1).Select(d => (long)d).ToArray();
        var maxAbs = TensorMath.ToArray(torch.maximum(a.amax(others), a.amin(others).neg()));
        var dead = new List<int>();
        for (int i = 0; i < maxAbs.Length; i++)
            if (maxAbs[i] <= tol) dead.Add(i);
        return dead.ToArray();
    }
}
