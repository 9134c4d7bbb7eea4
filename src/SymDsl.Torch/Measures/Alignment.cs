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

    /// <summary>
    /// The six CRH alignments at a convolution read as the linear map it is on unfolded patches (im2col), exactly:
    /// y[n, o, p] = Σ_{c,κ} W[o, c, κ] · x_pad[n, c, p·stride + κ] + b[o], so with h_a = the patches [N·P, in·kᵈ] (one row
    /// per example and output position p, entries ordered (channel, kernel offsets) as W.reshape(out, in·kᵈ) orders them),
    /// h_b = the output per position [N·P, out] and W = weight.reshape(out, in·kᵈ), h_b = h_a Wᵀ + b row by row. g_b is the
    /// gradient at the output per position; g_a = g_b W is the gradient w.r.t. the patch rows (each patch an input of the
    /// linear map, as the layer sees it; not the gradient w.r.t. the folded input, in which a pixel is shared by up to kᵈ
    /// patches). <paramref name="x"/> [N, in, L] or [N, in, H, W]; <paramref name="y"/> and <paramref name="gy"/> the output and
    /// its gradient [N, out, L′] or [N, out, H′, W′]; <paramref name="weight"/> [out, in, k] or [out, in, k, k].
    /// </summary>
    public static CrhAlignment CrhConv(Tensor x, Tensor y, Tensor gy, Tensor weight, long stride, long padding, CrhOptions? options = null)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (ha, hb, gb, W) = ConvRows(x, y, gy, weight, stride, padding);
        return Crh(ha, hb, gb.matmul(W), gb, W, options);
    }

    /// <summary>
    /// The im2col rows of a convolution (see <see cref="CrhConv"/>): patches [N·P, in·kᵈ], outputs and their gradients
    /// [N·P, out], and W as a matrix [out, in·kᵈ], all float64.
    /// </summary>
    public static (Tensor Patches, Tensor Outputs, Tensor OutputGradients, Tensor W) ConvRows(Tensor x, Tensor y, Tensor gy, Tensor weight, long stride, long padding)
    {
        var w = TensorMath.F64(weight);
        var X = TensorMath.F64(x);
        long outC = w.shape[0];
        if (w.dim() == 3) { w = w.unsqueeze(2); X = X.unsqueeze(2); } // Conv1d as a Conv2d of height 1
        else if (w.dim() != 4) throw new ArgumentException($"a convolution weight has 3 or 4 axes, not {w.dim()}");
        if (X.dim() != 4 || X.shape[1] != w.shape[1]) throw new ArgumentException($"input [{string.Join(", ", x.shape)}] does not fit weight [{string.Join(", ", weight.shape)}]");
        long kh = w.shape[2], kw = w.shape[3];
        long ph = kh == 1 ? 0 : padding;
        var cols = torch.nn.functional.unfold(X, (kh, kw), padding: (ph, padding), stride: (kh == 1 ? 1 : stride, stride)); // [N, in·kᵈ, P]
        var patches = cols.transpose(1, 2).reshape(-1, cols.shape[1]);
        Tensor Rows(Tensor t)
        {
            var f = TensorMath.F64(t);
            var flat = f.reshape(f.shape[0], outC, -1); // [N, out, P]
            if (flat.shape[2] != cols.shape[2]) throw new ArgumentException($"output has {flat.shape[2]} positions, the patches {cols.shape[2]}");
            return flat.transpose(1, 2).reshape(-1, outC);
        }
        return (patches, Rows(y), Rows(gy), w.reshape(outC, -1));
    }

    /// <summary>
    /// The random baseline of <see cref="Crh"/> at a layer of the given sizes: the six alignments of the same statistics
    /// (same <paramref name="options"/>) computed from independent standard Gaussian h_a [n, a], h_b [n, b], g_a [n, a],
    /// g_b [n, b] and W [b, a], averaged over <paramref name="draws"/> draws of a generator seeded with <paramref name="seed"/>.
    /// Each matrix is then a Wishart matrix (H_a with n degrees of freedom, Z_a = WᵀW with b), and α of two independent
    /// Wishart matrices of size d with n₁ and n₂ degrees of freedom is ≈ <see cref="WishartAlignment"/> — not zero, because
    /// both have a large diagonal.
    /// </summary>
    public static CrhAlignment RandomBaseline(long n, long a, long b, int draws = 3, long seed = 0, CrhOptions? options = null)
    {
        if (n < 2 || a < 1 || b < 1 || draws < 1) throw new ArgumentException($"n = {n}, a = {a}, b = {b}, draws = {draws}");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var g = new torch.Generator((ulong)seed);
        var sums = new double[6];
        for (int i = 0; i < draws; i++)
        {
            using var inner = torch.NewDisposeScope();
            Tensor R(long r, long c) => torch.randn([r, c], dtype: ScalarType.Float64, generator: g);
            var c = Crh(R(n, a), R(n, b), R(n, a), R(n, b), R(b, a), options);
            double[] six = [c.RgaA, c.GwaA, c.RwaA, c.RgaB, c.GwaB, c.RwaB];
            for (int j = 0; j < 6; j++) sums[j] += six[j] / draws;
        }
        return new CrhAlignment(sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]);
    }

    /// <summary>
    /// The large-size value of α(A, B) for independent Wishart matrices A = XᵀX/n₁, B = YᵀY/n₂ of size d (X [n₁, d], Y [n₂, d]
    /// standard Gaussian): the diagonal (≈ 1) against the off-diagonal (variance 1/n) gives covariance ≈ 1/d and variances
    /// ≈ 1/d + 1/n, so α ≈ 1 / sqrt((1 + d/n₁)(1 + d/n₂)); n/(n + d) when n₁ = n₂ = n. E.g. d = 512, n = 83: 0.14.
    /// </summary>
    public static double WishartAlignment(double n1, double n2, double d) => 1.0 / Math.Sqrt((1 + d / n1) * (1 + d / n2));

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
