using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>Per-unit gradient-norm balance.</summary>
/// <param name="Ratios">r_i = (‖∇w_in,i‖² + (∂b_i)²) / ‖∇w_out,i‖²; NaN where both sides are zero, +∞ where only the out side is.</param>
/// <param name="Median">Median of the finite ratios (NaN if none).</param>
/// <param name="MeanLogRatio">Mean of ln r_i over finite positive ratios (0 when balanced on average; NaN if none).</param>
/// <param name="Finite">How many ratios entered the summaries.</param>
public sealed record BalanceRatio(double[] Ratios, double Median, double MeanLogRatio, int Finite);

/// <summary>
/// Conserved quantities of gradient flow (Du, Hu &amp; Lee 2018; Kunin et al. 2021) and gradient balance (Ziyin, Xu &amp;
/// Chuang, "Neural Thermodynamics I", 2025), per science.md. All in float64, without autograd.
/// </summary>
public static class Balance
{
    /// <summary>
    /// Rescale: Q_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖² per unit (rows of wIn [n, in], bIn [n], columns of wOut [out, n]).
    /// Constant under gradient flow without weight decay; with weight decay λ (decay λ‖θ‖² on all three) dQ/dt = −2λQ.
    /// </summary>
    public static double[] RescaleConserved(Tensor wIn, Tensor? bIn, Tensor wOut)
    {
        var (inSq, outSq) = UnitNorms.Squared(wIn, bIn, wOut);
        return inSq.Zip(outSq, (a, b) => a - b).ToArray();
    }

    /// <summary>Rescale Q_i for any unit-wise symmetry: Σ over Forward slices of unit i of ‖·‖² − Σ over Inverse slices.</summary>
    public static double[] RescaleConserved(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters)
    {
        var (inSq, outSq) = UnitNorms.FromSymmetry(sym, parameters);
        return inSq.Zip(outSq, (a, b) => a - b).ToArray();
    }

    /// <summary>Rotation between W₁ [h, in] (producer) and W₂ [out, h] (consumer): C = W₁W₁ᵀ − W₂ᵀW₂ [h, h].</summary>
    public static double[,] RotationConserved(Tensor w1, Tensor w2)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var a = TensorMath.F64(w1);
        var b = TensorMath.F64(w2);
        return TensorMath.ToMatrix(a.matmul(a.t()) - b.t().matmul(b));
    }

    /// <summary>
    /// Attention query–key, per head h: C_h = Q_h Q_hᵀ − K_h K_hᵀ [dh, dh], where Q_h = [W_q | b_q] restricted to the rows
    /// h·dh … (h+1)·dh−1 (TorchSharp storage, q = W_q x + b_q), likewise K_h; biases optional (omit both for bias-free
    /// attention). In the x·W_Q convention of science.md (W_Q = W_qᵀ) this is W_QᵀW_Q − W_KᵀW_K. Conserved because
    /// scores depend on W_q, W_k only through Q_hᵀK_h (GL(dh) symmetry Q_h → A Q_h, K_h → A⁻ᵀ K_h).
    /// </summary>
    public static double[][,] AttentionConserved(Tensor wq, Tensor? bq, Tensor wk, Tensor? bk, int heads)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var q = Augment(TensorMath.F64(wq), bq);
        var k = Augment(TensorMath.F64(wk), bk);
        long d = q.shape[0];
        if (d % heads != 0) throw new ArgumentException($"{d} rows do not split into {heads} heads");
        long dh = d / heads;
        // All heads in one batched product: [heads, dh, ·] rows of head h are h·dh … (h+1)·dh−1.
        var qh = q.reshape(heads, dh, -1);
        var kh = k.reshape(heads, dh, -1);
        return TensorMath.ToMatrices(qh.bmm(qh.transpose(1, 2)) - kh.bmm(kh.transpose(1, 2)));
    }

    /// <summary>
    /// The conserved matrix of any rotation / rescale symmetry, per block b: C_b = S_F S_Fᵀ − S_I S_Iᵀ [Dim, Dim], with S_F
    /// the rows (units of block b) of all Forward parameters' slices concatenated, S_I likewise for Inverse
    /// (<see cref="UnitNorms.Slices"/>). For rotation(h) of W₁ → A W₁, W₂ → W₂ A⁻¹ this is W₁W₁ᵀ − W₂ᵀW₂; for rescale its
    /// diagonal is <see cref="RescaleConserved(SymmetryIR, IReadOnlyDictionary{string, Tensor})"/>.
    /// </summary>
    public static double[][,] ConservedMatrices(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        int n = sym.Dim, nb = Math.Max(1, sym.Blocks);
        var f = UnitNorms.Slices(sym, parameters, ActionRole.Forward);
        var i = UnitNorms.Slices(sym, parameters, ActionRole.Inverse);
        // All blocks in one batched product: block b is the rows b·Dim … (b+1)·Dim−1 of the slices.
        static Tensor Gram(Tensor s, int nb, int n) { var r = s.reshape(nb, n, -1); return r.bmm(r.transpose(1, 2)); }
        var c = f is null ? torch.zeros(nb, n, n, ScalarType.Float64) : Gram(f, nb, n);
        if (i is not null) c = c - Gram(i, nb, n);
        return TensorMath.ToMatrices(c);
    }

    /// <summary>‖after − before‖₂ / ‖before‖₂ (entrywise 2-norm). +∞ if before = 0 ≠ after, 0 if both are 0.</summary>
    public static double RelativeDrift(double[] before, double[] after)
    {
        if (before.Length != after.Length) throw new ArgumentException("lengths differ");
        double num = 0, den = 0;
        for (int k = 0; k < before.Length; k++) { num += (after[k] - before[k]) * (after[k] - before[k]); den += before[k] * before[k]; }
        return den > 0 ? Math.Sqrt(num / den) : num > 0 ? double.PositiveInfinity : 0.0;
    }

    /// <summary>‖after − before‖_F / ‖before‖_F for matrices.</summary>
    public static double RelativeDrift(double[,] before, double[,] after) =>
        RelativeDrift(before.Cast<double>().ToArray(), after.Cast<double>().ToArray());

    /// <summary>
    /// Gradient balance per unit: r_i = (‖∇w_in,i‖² + (∂ℓ/∂b_i)²) / ‖∇w_out,i‖² with gIn [n, in] the gradient of the
    /// producer's weight, gBias [n] of its bias (optional), gOut [out, n] of the consumer's weight. SGD's entropic force
    /// drives r_i → 1 on each rescale orbit (Neural Thermodynamics I). Summaries: median and mean log-ratio.
    /// </summary>
    public static BalanceRatio GradientRatio(Tensor gIn, Tensor? gBias, Tensor gOut)
    {
        var (inSq, outSq) = UnitNorms.Squared(gIn, gBias, gOut);
        return Ratio(inSq, outSq);
    }

    /// <summary><see cref="GradientRatio(Tensor, Tensor?, Tensor)"/> for any unit-wise symmetry, given gradients by parameter name.</summary>
    public static BalanceRatio GradientRatio(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> gradients)
    {
        var (inSq, outSq) = UnitNorms.FromSymmetry(sym, gradients);
        return Ratio(inSq, outSq);
    }

    /// <summary>
    /// Rotation gradient imbalance ‖∇W₁∇W₁ᵀ − ∇W₂ᵀ∇W₂‖_F / (‖∇W₁∇W₁ᵀ‖_F + ‖∇W₂ᵀ∇W₂‖_F) ∈ [0, 1]; 0 when balanced
    /// (the rotation analogue of r_i = 1). NaN when both gradients are zero.
    /// </summary>
    public static double RotationGradientImbalance(Tensor g1, Tensor g2)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var a = TensorMath.F64(g1);
        var b = TensorMath.F64(g2);
        var m1 = a.matmul(a.t());
        var m2 = b.t().matmul(b);
        var norms = TensorMath.ToArray(torch.stack(new[] { m1.norm(), m2.norm(), (m1 - m2).norm() }));
        double den = norms[0] + norms[1];
        return den > 0 ? norms[2] / den : double.NaN;
    }

    /// <summary>
    /// <see cref="RotationGradientImbalance(Tensor, Tensor)"/> of every block of a rotation symmetry at once, given gradients
    /// by parameter name: block b compares ∇S_F,b ∇S_F,bᵀ with ∇S_I,b ∇S_I,bᵀ (the rows of block b of the Forward and
    /// Inverse slices, <see cref="UnitNorms.Slices"/>; for W₁ → A W₁, W₂ → W₂ A⁻¹ this is ∇W₁∇W₁ᵀ against ∇W₂ᵀ∇W₂). One
    /// batched product and one transfer; NaN for a block whose gradients are both zero, and an empty array when the
    /// symmetry has no Forward or no Inverse slices.
    /// </summary>
    public static double[] RotationGradientImbalances(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> gradients)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        int n = sym.Dim, nb = Math.Max(1, sym.Blocks);
        var f = UnitNorms.Slices(sym, gradients, ActionRole.Forward);
        var i = UnitNorms.Slices(sym, gradients, ActionRole.Inverse);
        if (f is null || i is null) return [];
        var a = f.reshape(nb, n, -1);
        var b = i.reshape(nb, n, -1);
        var m1 = a.bmm(a.transpose(1, 2));
        var m2 = b.bmm(b.transpose(1, 2));
        static Tensor Fro(Tensor m) => m.square().sum(new long[] { 1, 2 }).sqrt();
        var norms = TensorMath.ToArray(torch.stack(new[] { Fro(m1), Fro(m2), Fro(m1 - m2) })); // [3, nb]
        var res = new double[nb];
        for (int k = 0; k < nb; k++)
        {
            double den = norms[k] + norms[nb + k];
            res[k] = den > 0 ? norms[2 * nb + k] / den : double.NaN;
        }
        return res;
    }

    private static BalanceRatio Ratio(double[] inSq, double[] outSq)
    {
        // Plain loops: the same values as r.Where(finite), the median of those and the mean of their logs in index order.
        int n = Math.Min(inSq.Length, outSq.Length);
        var r = new double[n];
        var finite = new double[n];
        int nf = 0, nl = 0;
        double logSum = 0;
        for (int i = 0; i < n; i++)
        {
            double a = inSq[i], b = outSq[i];
            r[i] = b > 0 ? a / b : a > 0 ? double.PositiveInfinity : double.NaN;
            if (!double.IsFinite(r[i])) continue;
            finite[nf++] = r[i];
            if (r[i] > 0) { logSum += Math.Log(r[i]); nl++; }
        }
        return new BalanceRatio(r, nf == 0 ? double.NaN : TensorMath.MedianInPlace(finite.AsSpan(0, nf)),
            nl == 0 ? double.NaN : logSum / nl, nf);
    }

    private static Tensor Augment(Tensor w, Tensor? b) =>
        b is null ? w : torch.cat(new[] { w, TensorMath.F64(b).reshape(-1, 1) }, 1);
}
