using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>How <see cref="Rank.SingularValues"/> computes the singular values.</summary>
public enum SingularValueMethod
{
    /// <summary>From the Gram matrix of the smaller side when that is accurate to <see cref="Rank.GramTolerance"/>, else svdvals.</summary>
    Auto,
    /// <summary>torch.linalg.svdvals of the whole matrix (the reference).</summary>
    Svd,
}

/// <summary>
/// Rank measures of a matrix (science.md, "Measures"). Inputs of rank ≠ 2 are read as matrices: a vector as one row
/// [1, n], higher ranks flattened to [size(0), rest]. Computed in float64 without autograd.
/// </summary>
public static class Rank
{
    /// <summary>
    /// The singular values s₁ ≥ s₂ ≥ … ≥ 0 of the matrix view, min(rows, columns) of them, by <paramref name="method"/>:
    /// <see cref="SingularValueMethod.Auto"/> (the default) from the Gram matrix of the smaller side, falling back to
    /// torch.linalg.svdvals when that would not be accurate; <see cref="SingularValueMethod.Svd"/> always svdvals.
    /// </summary>
    public static double[] SingularValues(Tensor a, SingularValueMethod method = SingularValueMethod.Auto)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var m = TensorMath.Matrix(a);
        if (method == SingularValueMethod.Auto && FromGram(m) is { } s) return s;
        return TensorMath.ToArray(torch.linalg.svdvals(m));
    }

    /// <summary>
    /// Singular values from the eigenvalues λ of the Gram matrix of the smaller side (AᵀA or AAᵀ, k×k with k = min(rows,
    /// columns), float64): s_i = √λ_i. Cost: one [k, L]·[L, k] product (L the longer side) and a k×k symmetric eigensolve,
    /// instead of an SVD of the whole matrix.
    /// <para>
    /// Accuracy: forming and solving the Gram matrix perturbs each λ_i by at most about (L + k)·ε·s₁² (ε = 2⁻⁵²), so
    /// |ŝ_i − s_i| / s_i ≤ (L + k)·ε·(s₁/s_i)² / 2. The result is used only when that bound is ≤ <see cref="GramTolerance"/>
    /// (1e-8) for the smallest ŝ_i, i.e. s_min/s₁ ≥ √((L + k)·ε / 2e-8) (≈ 2e-3 at L = 4096); otherwise (rank-deficient or
    /// ill-conditioned matrices, whose small singular values the Gram matrix cannot resolve) null, and the caller uses
    /// svdvals. Every singular value returned thus agrees with svdvals to ≤ 1e-8 relative (svdvals' own error, ε·s₁
    /// absolute, included), hence effective, stable and numerical rank too.
    /// </para>
    /// </summary>
    static double[]? FromGram(Tensor m)
    {
        long rows = m.shape[0], cols = m.shape[1];
        long k = Math.Min(rows, cols), l = Math.Max(rows, cols);
        if (k == 0) return [];
        var g = rows >= cols ? m.t().matmul(m) : m.matmul(m.t());
        var lambda = TensorMath.ToArray(torch.linalg.eigvalsh(g)); // ascending
        double top = lambda[^1];
        if (!(top > 0) || !double.IsFinite(top)) return null;      // zero or non-finite matrix: let svdvals decide
        double bound = (l + k) * Epsilon / 2;
        if (!(lambda[0] > 0) || bound * top / lambda[0] > GramTolerance) return null;
        var s = new double[k];
        for (int i = 0; i < k; i++) s[i] = Math.Sqrt(lambda[k - 1 - i]);
        return s;
    }

    /// <summary>The relative accuracy <see cref="SingularValues"/> guarantees on the Gram path (see there).</summary>
    public const double GramTolerance = 1e-8;

    const double Epsilon = 2.220446049250313e-16;

    /// <summary>
    /// Effective rank (Roy &amp; Vetterli 2007; science.md): exp(H(p)) with p_i = s_i / Σ_j s_j and H(p) = −Σ p_i ln p_i
    /// (terms with p_i = 0 contribute 0). Identity n×n → n; r equal nonzero singular values → r. The zero matrix → 0.
    /// </summary>
    public static double Effective(Tensor a) => EffectiveFromSingularValues(SingularValues(a));

    /// <summary><see cref="Effective(Tensor)"/> from given singular values.</summary>
    public static double EffectiveFromSingularValues(IReadOnlyList<double> s)
    {
        double total = s.Sum();
        if (total <= 0) return 0.0;
        double h = 0;
        foreach (var si in s)
        {
            if (si <= 0) continue;
            double p = si / total;
            h -= p * Math.Log(p);
        }
        return Math.Exp(h);
    }

    /// <summary>Stable rank ‖A‖_F² / ‖A‖₂² = Σ s_i² / s₁² (science.md). The zero matrix → 0.</summary>
    public static double Stable(Tensor a) => StableFromSingularValues(SingularValues(a));

    /// <summary><see cref="Stable(Tensor)"/> from given singular values.</summary>
    public static double StableFromSingularValues(IReadOnlyList<double> s)
    {
        double max = s.Count == 0 ? 0 : s.Max();
        if (max <= 0) return 0.0;
        return s.Sum(x => x * x) / (max * max);
    }

    /// <summary>
    /// Numerical rank: the number of singular values s_i &gt; relTol · s₁. The default 1e-6 suits float32 data in float64
    /// arithmetic; use ~max(m, n)·2.2e-16 for the LAPACK convention on exact float64 matrices. The zero matrix → 0.
    /// </summary>
    public static int Numerical(Tensor a, double relTol = 1e-6) => NumericalFromSingularValues(SingularValues(a), relTol);

    /// <summary><see cref="Numerical(Tensor, double)"/> from given singular values.</summary>
    public static int NumericalFromSingularValues(IReadOnlyList<double> s, double relTol = 1e-6)
    {
        double max = s.Count == 0 ? 0 : s.Max();
        if (max <= 0) return 0;
        return s.Count(x => x > relTol * max);
    }
}
