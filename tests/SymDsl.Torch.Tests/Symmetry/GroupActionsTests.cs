using SymDsl.IR;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Symmetry;

public class GroupActionsTests
{
    [Fact]
    public void Sample_is_deterministic_for_a_seed()
    {
        var sym = Sym(SymmetryKind.Permutation, 10, HiddenActions());
        var a = GroupActions.Sample(sym, new Random(3));
        var b = GroupActions.Sample(sym, new Random(3));
        var c = GroupActions.Sample(sym, new Random(4));
        Assert.Equal(a.Permutations![0], b.Permutations![0]);
        Assert.NotEqual(a.Permutations![0], c.Permutations![0]);
        Assert.Equal(Enumerable.Range(0, 10), a.Permutations![0].OrderBy(i => i));
    }

    [Fact]
    public void Sampled_scales_are_positive_and_signs_are_plus_minus_one()
    {
        var rng = new Random(1);
        var resc = GroupActions.Sample(Sym(SymmetryKind.Rescale, 50, HiddenActions()), rng);
        Assert.All(resc.Scales![0], c => Assert.True(c > 0));
        Assert.True(resc.Scales![0].Distinct().Count() > 40);
        var sign = GroupActions.Sample(Sym(SymmetryKind.Sign, 50, HiddenActions()), rng);
        Assert.All(sign.Signs![0], s => Assert.True(s == 1 || s == -1));
        Assert.Contains(-1.0, sign.Signs![0]);
        Assert.Contains(1.0, sign.Signs![0]);
    }

    [Fact]
    public void Orthogonal_samples_are_orthogonal_and_general_ones_invertible()
    {
        using var scope = torch.NewDisposeScope();
        var rng = new Random(2);
        var o = torch.tensor(GroupActions.RandomOrthogonal(6, rng), new long[] { 6, 6 }, ScalarType.Float64);
        Assert.True((o.matmul(o.t()) - torch.eye(6, dtype: ScalarType.Float64)).abs().max().item<double>() < 1e-12);
        var a = torch.tensor(GroupActions.RandomInvertible(6, rng, 0.5), new long[] { 6, 6 }, ScalarType.Float64);
        var s = torch.linalg.svdvals(a);
        double cond = s.max().item<double>() / s.min().item<double>();
        Assert.InRange(cond, 1.0 + 1e-6, 1e3);
        // not orthogonal
        Assert.True((a.matmul(a.t()) - torch.eye(6, dtype: ScalarType.Float64)).abs().max().item<double>() > 1e-3);
    }

    [Fact]
    public void Apply_permutation_reorders_rows_and_columns_consistently_and_passes_others_through()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(3, 4, 2, seed: 1);
        var sym = Sym(SymmetryKind.Permutation, 4, HiddenActions());
        var g = new GroupElement(SymmetryKind.Permutation, 4, 1) { Permutations = [[2, 0, 3, 1]] };
        var q = GroupActions.Apply(sym, g, p);
        Assert.Same(p["fc2.bias"], q["fc2.bias"]);
        Assert.NotSame(p["fc1.weight"], q["fc1.weight"]);
        int[] pi = [2, 0, 3, 1];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(0.0, (q["fc1.weight"][i] - p["fc1.weight"][pi[i]]).abs().max().item<double>());
            Assert.Equal(p["fc1.bias"][pi[i]].item<double>(), q["fc1.bias"][i].item<double>());
            Assert.Equal(0.0, (q["fc2.weight"][.., i] - p["fc2.weight"][.., pi[i]]).abs().max().item<double>());
        }
    }

    [Fact]
    public void Apply_rescale_multiplies_forward_and_divides_inverse()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(3, 4, 2, seed: 2);
        var sym = Sym(SymmetryKind.Rescale, 4, HiddenActions());
        double[] c = [2.0, 0.5, 3.0, 1.0];
        var q = GroupActions.Apply(sym, new GroupElement(SymmetryKind.Rescale, 4, 1) { Scales = [c] }, p);
        for (int i = 0; i < 4; i++)
        {
            Assert.True((q["fc1.weight"][i] - p["fc1.weight"][i] * c[i]).abs().max().item<double>() < 1e-15);
            Assert.True(Math.Abs(q["fc1.bias"][i].item<double>() - c[i] * p["fc1.bias"][i].item<double>()) < 1e-15);
            Assert.True((q["fc2.weight"][.., i] - p["fc2.weight"][.., i] / c[i]).abs().max().item<double>() < 1e-15);
        }
    }

    [Fact]
    public void Apply_rotation_is_AW_and_V_Ainv_per_block()
    {
        using var scope = torch.NewDisposeScope();
        var g0 = Gen(3);
        var p = new Dictionary<string, Tensor> { ["w"] = Randn(g0, 4, 3), ["v"] = Randn(g0, 2, 4) };
        var sym = SymB(SymmetryKind.Rotation, 2, 2, F("w", 0), I("v", 1));
        var el = GroupActions.Sample(sym, new Random(5));
        var q = GroupActions.Apply(sym, el, p);
        var a0 = torch.tensor(el.Matrices![0], new long[] { 2, 2 }, ScalarType.Float64);
        var a1 = torch.tensor(el.Matrices![1], new long[] { 2, 2 }, ScalarType.Float64);
        var a = torch.block_diag(a0, a1);
        Assert.True((q["w"] - a.matmul(p["w"])).abs().max().item<double>() < 1e-12);
        Assert.True((q["v"] - p["v"].matmul(torch.linalg.inv(a))).abs().max().item<double>() < 1e-12);
    }

    [Fact]
    public void Identity_element_changes_nothing_and_dtype_is_kept()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(3, 4, 2, seed: 4).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32));
        foreach (var kind in new[] { SymmetryKind.Permutation, SymmetryKind.Rescale, SymmetryKind.Sign, SymmetryKind.Rotation })
        {
            var sym = Sym(kind, 4, HiddenActions());
            var q = GroupActions.Apply(sym, GroupElement.Identity(sym), p);
            foreach (var k in p.Keys)
            {
                Assert.Equal(ScalarType.Float32, q[k].dtype);
                Assert.True((q[k] - p[k]).abs().max().item<float>() < 1e-6f, $"{kind} {k}");
            }
        }
    }

    [Fact]
    public void Apply_rejects_wrong_sizes_and_missing_parameters()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(3, 4, 2, seed: 1);
        var bad = Sym(SymmetryKind.Sign, 5, HiddenActions());
        Assert.Throws<ArgumentException>(() => GroupActions.Apply(bad, GroupActions.Sample(bad, new Random(1)), p));
        var missing = Sym(SymmetryKind.Sign, 4, F("nope.weight", 0));
        Assert.Throws<KeyNotFoundException>(() => GroupActions.Apply(missing, GroupActions.Sample(missing, new Random(1)), p));
    }
}
