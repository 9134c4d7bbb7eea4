using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>
/// Rank measures of a matrix (science.md, "Measures"). Inputs of rank ≠ 2 are read as matrices: a vector as one row
/// [1, n], higher ranks flattened to [size(0), rest]. Computed in float64 without autograd.
/// </summary>
public static class Rank
{
    /// <summary>The singular values s₁ ≥ s₂ ≥ … ≥ 0 (torch.linalg.svdvals in float64).</summary>
    public static double[] SingularValues(Tensor a)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        return TensorMath.ToArray(torch.linalg.svdvals(TensorMath.Matrix(a)));
    }

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
