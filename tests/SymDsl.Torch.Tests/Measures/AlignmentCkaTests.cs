using SymDsl.Torch.Measures;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

public class AlignmentCkaTests
{
    [Fact]
    public void Pearson_alignment_known_cases()
    {
        using var scope = torch.NewDisposeScope();
        var a = Randn(Gen(41), 6, 6);
        Assert.Equal(1.0, Alignment.Pearson(a, a), 12);
        Assert.Equal(-1.0, Alignment.Pearson(a, -a), 12);
        Assert.Equal(1.0, Alignment.Pearson(a, 2.0 * a + 3.0), 12);
        Assert.True(double.IsNaN(Alignment.Pearson(a, torch.ones(6, 6))));
        var b = Randn(Gen(42), 60, 60);
        var c = Randn(Gen(43), 60, 60);
        Assert.True(Math.Abs(Alignment.Pearson(b, c)) < 0.05);
        // explicit formula on a tiny case: x = (1,2,3), y = (1,3,2) → r = 0.5
        Assert.Equal(0.5, Alignment.Pearson(torch.tensor(new[] { 1.0, 2, 3 }), torch.tensor(new[] { 1.0, 3, 2 })), 12);
    }

    [Fact]
    public void Crh_alignments_are_one_when_representation_gradient_and_weight_agree()
    {
        using var scope = torch.NewDisposeScope();
        const int n = 64, a = 5, b = 4;
        var w = Randn(Gen(44), b, a);
        // z: N×b with centred columns and (1/N) zᵀz = I exactly (QR of a centred Gaussian matrix, times √N)
        var z0 = Randn(Gen(45), n, b);
        var (qz, _) = torch.linalg.qr(z0 - z0.mean(new long[] { 0 }, keepdim: true));
        var z = qz * Math.Sqrt(n);
        var ha = z.matmul(w);          // rows h_aᵀ = z_rowᵀ W → H_a = WᵀW = Z_a
        var hb = ha.matmul(w.t());     // the layer's output
        var ga = -ha;                  // gradient ∝ representation (sign irrelevant) → G_a = H_a
        var gb = Randn(Gen(46), n, b);
        var r = Alignment.Crh(ha, hb, ga, gb, w);
        Assert.Equal(1.0, r.RgaA, 10);
        Assert.Equal(1.0, r.GwaA, 10);
        Assert.Equal(1.0, r.RwaA, 10);
        // side b against an explicit computation
        var hbC = hb - hb.mean(new long[] { 0 }, keepdim: true);
        var Hb = hbC.t().matmul(hbC) / n;
        var Gb = gb.t().matmul(gb) / n;
        var Zb = w.matmul(w.t());
        Assert.Equal(Alignment.Pearson(Hb, Gb), r.RgaB, 12);
        Assert.Equal(Alignment.Pearson(Gb, Zb), r.GwaB, 12);
        Assert.Equal(Alignment.Pearson(Hb, Zb), r.RwaB, 12);
        Assert.True(r.RgaB < 0.99);
        Assert.Throws<ArgumentException>(() => Alignment.Crh(ha, hb, ga, gb, w.t()));
    }

    [Fact]
    public void Cka_is_one_for_orthogonal_maps_and_small_for_independent_data()
    {
        using var scope = torch.NewDisposeScope();
        var x = Randn(Gen(47), 50, 6);
        var q = torch.tensor(GroupActions.RandomOrthogonal(6, new Random(5)), new long[] { 6, 6 }, ScalarType.Float64);
        Assert.Equal(1.0, Cka.Linear(x, x.matmul(q)), 12);
        Assert.Equal(1.0, Cka.Linear(x, 3.0 * x + 5.0), 12);
        // isometric embedding into more dimensions: Q [4, 7] with orthonormal rows
        var q7 = torch.tensor(GroupActions.RandomOrthogonal(7, new Random(6)), new long[] { 7, 7 }, ScalarType.Float64).narrow(0, 0, 4);
        var x4 = Randn(Gen(48), 50, 4);
        Assert.Equal(1.0, Cka.Linear(x4, x4.matmul(q7)), 12);
        var u = Randn(Gen(49), 400, 5);
        var v = Randn(Gen(50), 400, 5);
        double c = Cka.Linear(u, v);
        Assert.InRange(c, 0.0, 0.1);
        Assert.Equal(c, Cka.Linear(v, u), 12);
        // a non-orthogonal linear map lowers CKA below 1
        var m = torch.diag(torch.tensor(new[] { 10.0, 1, 1, 1, 1, 0.1 }));
        Assert.True(Cka.Linear(x, x.matmul(m)) < 0.9);
    }
}
