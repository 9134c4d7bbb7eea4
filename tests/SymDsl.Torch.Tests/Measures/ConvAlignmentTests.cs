using SymDsl.Torch.Measures;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

/// <summary>
/// CRH alignment at a convolution (Alignment.CrhConv: the convolution as a linear map on unfolded patches) and the random
/// baseline (Alignment.RandomBaseline against the Wishart formula).
/// </summary>
public class ConvAlignmentTests
{
    /// <summary>The patch rows of x [N, C, H, W] built by explicit loops (zero padding), ordered (n, oy, ox) × (c, ky, kx).</summary>
    static double[,] HandPatches(double[,,,] x, int k, int stride, int pad, out int oh, out int ow)
    {
        int n = x.GetLength(0), c = x.GetLength(1), h = x.GetLength(2), w = x.GetLength(3);
        oh = (h + 2 * pad - k) / stride + 1;
        ow = (w + 2 * pad - k) / stride + 1;
        var rows = new double[n * oh * ow, c * k * k];
        for (int e = 0; e < n; e++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    int r = (e * oh + oy) * ow + ox;
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                            {
                                int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                                rows[r, (ch * k + ky) * k + kx] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[e, ch, iy, ix] : 0.0;
                            }
                }
        return rows;
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    public void Conv_alignment_equals_the_Linear_alignment_on_hand_unfolded_patches(int stride, int pad)
    {
        using var scope = torch.NewDisposeScope();
        const int n = 5, cin = 3, cout = 4, k = 3, h = 7, w = 6;
        var x = Randn(Gen(71), n, cin, h, w);
        var weight = Randn(Gen(72), cout, cin, k, k);
        var bias = Randn(Gen(73), cout);
        var y = torch.nn.functional.conv2d(x, weight, bias, strides: [stride, stride], padding: [pad, pad]);
        var gy = Randn(Gen(74), y.shape);

        var xs = new double[n, cin, h, w];
        var flat = x.data<double>().ToArray();
        for (int i = 0; i < flat.Length; i++) xs[i / (cin * h * w), i / (h * w) % cin, i / w % h, i % w] = flat[i];
        var rows = HandPatches(xs, k, stride, pad, out int oh, out int ow);
        var patches = torch.tensor(rows.Cast<double>().ToArray(), [rows.GetLength(0), rows.GetLength(1)], ScalarType.Float64);
        var W = weight.reshape(cout, cin * k * k);
        // Exactness of the reading: the convolution's output at each position is W · patch + b.
        var yRows = y.permute(0, 2, 3, 1).reshape(-1, cout);
        Assert.Equal(n * oh * ow, yRows.shape[0]);
        Assert.True((patches.matmul(W.t()) + bias - yRows).abs().max().item<double>() < 1e-10);

        var gRows = gy.permute(0, 2, 3, 1).reshape(-1, cout);
        var expected = Alignment.Crh(patches, yRows, gRows.matmul(W), gRows, W);
        var actual = Alignment.CrhConv(x, y, gy, weight, stride, pad);
        double[] e6 = [expected.RgaA, expected.GwaA, expected.RwaA, expected.RgaB, expected.GwaB, expected.RwaB];
        double[] a6 = [actual.RgaA, actual.GwaA, actual.RwaA, actual.RgaB, actual.GwaB, actual.RwaB];
        for (int i = 0; i < 6; i++)
        {
            Assert.True(double.IsFinite(e6[i]));
            Assert.True(Math.Abs(e6[i] - a6[i]) < 1e-10, $"relation {i}: {a6[i]} vs {e6[i]}");
        }
        // g_a is the gradient w.r.t. the patch rows: autograd through rows ↦ rows Wᵀ + b gives g_b W.
        var p = patches.clone().requires_grad_(true);
        var outRows = p.matmul(W.t()) + bias;
        var ga = torch.autograd.grad([outRows], [p], [gRows])[0];
        Assert.True((ga - gRows.matmul(W)).abs().max().item<double>() < 1e-10);
    }

    [Fact]
    public void Conv1d_is_read_as_a_Conv2d_of_height_one()
    {
        using var scope = torch.NewDisposeScope();
        var x = Randn(Gen(81), 4, 2, 9);
        var weight = Randn(Gen(82), 3, 2, 3);
        var y = torch.nn.functional.conv1d(x, weight, stride: 2, padding: 1);
        var gy = Randn(Gen(83), y.shape);
        var (patches, rows, _, W) = Alignment.ConvRows(x, y, gy, weight, 2, 1);
        Assert.Equal(new long[] { 4 * y.shape[2], 6 }, patches.shape);
        Assert.True((patches.matmul(W.t()) - rows).abs().max().item<double>() < 1e-10);
        var c1 = Alignment.CrhConv(x, y, gy, weight, 2, 1);
        var c2 = Alignment.CrhConv(x.unsqueeze(2), y.unsqueeze(2), gy.unsqueeze(2), weight.unsqueeze(2), 2, 1);
        Assert.True(double.IsFinite(c1.RwaA) && double.IsFinite(c1.RgaB));
        // A Conv2d with a 1 × k kernel on [C, 1, L] (no padding in height) has the same patch rows.
        var (p2, r2, _, _) = Alignment.ConvRows(x.unsqueeze(2), y.unsqueeze(2), gy.unsqueeze(2), weight.unsqueeze(2), 2, 1);
        Assert.Equal(patches.shape, p2.shape);
        Assert.True((patches - p2).abs().max().item<double>() < 1e-12);
        Assert.True((rows - r2).abs().max().item<double>() < 1e-12);
        Assert.Equal(c1.GwaA, c2.GwaA, 12);
    }

    [Fact]
    public void The_random_baseline_reproduces_the_Wishart_value_at_the_papers_size()
    {
        // A ResNet-18 late layer: 512 units, with n = 83 samples two independent Wishart matrices give α ≈ 83/(83 + 512) ≈ 0.14,
        // the paper's "about 0.14". RandomBaseline draws every matrix of the six relations independently.
        const int n = 83, d = 512;
        Assert.InRange(Alignment.WishartAlignment(n, n, d), 0.1394, 0.1396); // 83 / 595
        var r = Alignment.RandomBaseline(n, d, d, draws: 2, seed: 5);
        // H and G both have n (centred: n − 1) degrees of freedom; Z = WᵀW has d (W is d × d).
        Assert.InRange(r.RgaA, Alignment.WishartAlignment(n - 1, n, d) - 0.02, Alignment.WishartAlignment(n - 1, n, d) + 0.02);
        Assert.InRange(r.RgaB, Alignment.WishartAlignment(n - 1, n, d) - 0.02, Alignment.WishartAlignment(n - 1, n, d) + 0.02);
        Assert.InRange(r.GwaA, Alignment.WishartAlignment(n, d, d) - 0.02, Alignment.WishartAlignment(n, d, d) + 0.02);
        Assert.InRange(r.RwaB, Alignment.WishartAlignment(n - 1, d, d) - 0.02, Alignment.WishartAlignment(n - 1, d, d) + 0.02);
        // With many more samples than units the baseline goes to 1 (the diagonal dominates): it is no constant 0.14.
        var big = Alignment.RandomBaseline(4000, 16, 16, draws: 1, seed: 6);
        Assert.True(big.RgaA > 0.99, $"{big.RgaA}");
        // Reproducible from its seed.
        Assert.Equal(r, Alignment.RandomBaseline(n, d, d, draws: 2, seed: 5));
    }
}
