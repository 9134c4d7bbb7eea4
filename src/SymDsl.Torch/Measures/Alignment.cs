using TorchSharp;
using static TorchSharp.torch;
using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Measures;

/// <summary>How <see cref="Alignment.Crh"/> prepares activations and gradients before forming second moments.</summary>
/// <param name="CenterRepresentations">Subtract the batch mean of each coordinate of h_a and h_b (default true: "centred").</param>
/// <param name="NormalizeRepresentations">Then scale each example's h to unit norm (default false; "normalised" in
/// science.md is read as the overall scale, which Pearson correlation ignores anyway).</param>
/// <param name="CenterGradients">Subtract the batch mean of g_a and g_b (default false: G = E[g gᵀ] as written).</param>
public sealed record CrhOptions(bool CenterRepresentations = true, bool NormalizeRepresentations = false, bool CenterGradients = false)
{
    public static readonly CrhOptions Default = new();
}

/// <summary>
/// The six Canonical Representation Hypothesis alignments at a layer h_b = W h_a (Ziyin, Chuang, Galanti &amp; Poggio 2024):
/// side a (forward): RGA α(H_a, G_a), GWA α(G_a, Z_a), RWA α(H_a, Z_a) with Z_a = WᵀW;
/// side b (backward): RGA α(H_b, G_b), GWA α(G_b, Z_b), RWA α(H_b, Z_b) with Z_b = WWᵀ.
/// </summary>
public sealed record CrhAlignment(double RgaA, double GwaA, double RwaA, double RgaB, double GwaB, double RwaB);

/// <summary>Matrix alignment and the canonical-representation alignments (science.md).</summary>
public static class Alignment
{
    /// <summary>
    /// α(A, B) = Pearson correlation of the entries of A and B (same number of entries): Σ(a−ā)(b−b̄) / sqrt(Σ(a−ā)² Σ(b−b̄)²),
    /// in [−1, 1]. NaN when either has constant entries.
    /// </summary>
    public static double Pearson(Tensor a, Tensor b)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var x = TensorMath.F64(a).flatten();
        var y = TensorMath.F64(b).flatten();
        if (x.shape[0] != y.shape[0]) throw new ArgumentException($"{x.shape[0]} vs {y.shape[0]} entries");
        x = x - x.mean();
        y = y - y.mean();
        double den = Math.Sqrt((x * x).sum().item<double>() * (y * y).sum().item<double>());
        return den > 0 ? (x * y).sum().item<double>() / den : double.NaN;
    }

    /// <summary>
    /// The six CRH alignments from a probe batch: h_a [N, a] (layer input), h_b [N, b] (layer output W h_a, before any
    /// nonlinearity), g_a [N, a], g_b [N, b] the gradients −∂ℓ/∂h (the sign does not matter for second moments),
    /// W [b, a]. H = (1/N) h̃ᵀh̃ with h̃ prepared per <paramref name="options"/>, G = (1/N) g̃ᵀg̃, Z_a = WᵀW, Z_b = WWᵀ.
    /// </summary>
    public static CrhAlignment Crh(Tensor ha, Tensor hb, Tensor ga, Tensor gb, Tensor w, CrhOptions? options = null)
    {
        var o = options ?? CrhOptions.Default;
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var W = TensorMath.F64(w);
        var Ha = Second(ha, o.CenterRepresentations, o.NormalizeRepresentations);
        var Hb = Second(hb, o.CenterRepresentations, o.NormalizeRepresentations);
        var Ga = Second(ga, o.CenterGradients, false);
        var Gb = Second(gb, o.CenterGradients, false);
        var Za = W.t().matmul(W);
        var Zb = W.matmul(W.t());
        if (Ha.shape[0] != Za.shape[0] || Hb.shape[0] != Zb.shape[0])
            throw new ArgumentException($"W [{W.shape[0]}, {W.shape[1]}] does not map h_a [{Ha.shape[0]}] to h_b [{Hb.shape[0]}]");
        return new CrhAlignment(Pearson(Ha, Ga), Pearson(Ga, Za), Pearson(Ha, Za), Pearson(Hb, Gb), Pearson(Gb, Zb), Pearson(Hb, Zb));
    }

    private static Tensor Second(Tensor h, bool center, bool normalize)
    {
        var x = TensorMath.F64(h);
        if (x.dim() != 2) x = x.reshape(-1, x.shape[^1]);
        if (center) x = x - x.mean(new long[] { 0 }, keepdim: true);
        if (normalize)
        {
            var n = x.pow(Scalars.IntTwo).sum(new long[] { 1 }, keepdim: true).sqrt();
            x = x / torch.where(n > Scalars.IntZero, n, torch.ones_like(n));
        }
        return x.t().matmul(x) / x.shape[0];
    }
}

/// <summary>Centred kernel alignment (Kornblith et al. 2019; science.md).</summary>
public static class Cka
{
    /// <summary>
    /// Linear CKA of X [N, p] and Y [N, q] (rows = the same N inputs): with columns centred,
    /// ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F) ∈ [0, 1]; 1 for Y = XQ with Q orthogonal (and for Y = cX). NaN if X or Y is constant.
    /// </summary>
    public static double Linear(Tensor x, Tensor y)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var X = TensorMath.F64(x);
        var Y = TensorMath.F64(y);
        if (X.dim() != 2) X = X.reshape(X.shape[0], -1);
        if (Y.dim() != 2) Y = Y.reshape(Y.shape[0], -1);
        if (X.shape[0] != Y.shape[0]) throw new ArgumentException($"{X.shape[0]} vs {Y.shape[0]} examples");
        X = X - X.mean(new long[] { 0 }, keepdim: true);
        Y = Y - Y.mean(new long[] { 0 }, keepdim: true);
        double cross = Math.Pow(Y.t().matmul(X).norm().item<double>(), 2);
        double den = X.t().matmul(X).norm().item<double>() * Y.t().matmul(Y).norm().item<double>();
        return den > 0 ? cross / den : double.NaN;
    }
}
