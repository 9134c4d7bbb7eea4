using SymDsl.IR;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

public class CollapseAndDuplicatesTests
{
    [Fact]
    public void Zeroed_units_are_collapsed_and_others_are_not()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 21);
        p["fc1.weight"][2] = torch.zeros(5, dtype: ScalarType.Float64);   // unit 2: in-weights and bias zero
        p["fc1.bias"][2] = torch.tensor(0.0, ScalarType.Float64);
        p["fc2.weight"][.., 5] = torch.zeros(3, dtype: ScalarType.Float64); // unit 5: out-weights zero
        var r = Collapse.Units(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        Assert.Equal([2, 5], r.CollapsedUnits);
        Assert.Equal(2, r.Count);
        Assert.Equal(0.0, r.Products[2]);
        Assert.Equal(0.0, r.Products[5]);
        Assert.True(r.Products.Where((_, i) => i != 2 && i != 5).All(x => x > r.Threshold));
        Assert.Equal(0.25, r.Fraction);

        // absolute and median thresholds
        Assert.Equal([2, 5], Collapse.Units(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"], 1e-9, CollapseThreshold.Absolute).CollapsedUnits);
        Assert.Equal([2, 5], Collapse.Units(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"], 1e-3, CollapseThreshold.RelativeToMedian).CollapsedUnits);

        // the product is exactly the norm product, and with a bias the in-norm includes it
        var w = p["fc1.weight"][0]; var b = p["fc1.bias"][0].item<double>(); var v = p["fc2.weight"][.., 0];
        double expect = Math.Sqrt(w.pow(2).sum().item<double>() + b * b) * Math.Sqrt(v.pow(2).sum().item<double>());
        Assert.Equal(expect, r.Products[0], 12);
    }

    [Fact]
    public void Collapse_product_is_invariant_under_rescale_and_matches_the_symmetry_view()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 22);
        var sym = Sym(SymmetryKind.Rescale, 8, HiddenActions());
        var q = GroupActions.Apply(sym, GroupActions.Sample(sym, new Random(1), scale: 1.0), p);
        var r0 = Collapse.Units(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        var r1 = Collapse.Units(q["fc1.weight"], q["fc1.bias"], q["fc2.weight"]);
        for (int i = 0; i < 8; i++) Assert.Equal(r0.Products[i], r1.Products[i], 10);
        Assert.NotEqual(r0.InNorms[0], r1.InNorms[0]);
        var (inSq, outSq) = UnitNorms.FromSymmetry(sym, p);
        var rs = Collapse.FromSquaredNorms(inSq, outSq);
        var rf = Collapse.FromSymmetry(sym, p);
        for (int i = 0; i < 8; i++) Assert.Equal(r0.Products[i], rs.Products[i], 12);
        for (int i = 0; i < 8; i++) Assert.Equal(r0.Products[i], rf.Products[i], 12);
    }

    [Fact]
    public void Dead_units_are_those_never_active_on_the_probe_batch()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(4, 6, 2, seed: 23);
        p["fc1.bias"][1] = torch.tensor(-100.0, ScalarType.Float64);
        p["fc1.bias"][4] = torch.tensor(-100.0, ScalarType.Float64);
        var x = Randn(Gen(24), 64, 4);
        var act = (x.matmul(p["fc1.weight"].t()) + p["fc1.bias"]).relu();
        Assert.Equal([1, 4], Collapse.DeadUnits(act));
        Assert.Empty(Collapse.DeadUnits(act.tanh() + 2));
        // a tolerance counts nearly silent units as dead
        var scaled = act.clone(); scaled[.., 0] = scaled[.., 0] * 1e-9;
        Assert.Equal([0, 1, 4], Collapse.DeadUnits(scaled, tol: 1e-6));
    }

    [Fact]
    public void Dead_channels_of_a_conv_site_are_read_along_the_channel_axis()
    {
        using var scope = torch.NewDisposeScope();
        // [N, C, H, W] = [16, 5, 3, 5]: the last axis (W = 5) has as many entries as there are channels, so reading it as
        // the units would give an answer of the right length and the wrong meaning.
        var act = Randn(Gen(31), 16, 5, 3, 5).relu() + 0.01;
        act[.., 2] = 0.0;                       // channel 2 never active, at any position of any example
        act[.., 4, .., 0] = 0.0;                // channel 4 silent in column 0 only: active elsewhere, not dead
        act[.., 1, 0] = 0.0;                    // channel 1 silent in row 0 only
        Assert.Equal([2], Collapse.DeadUnits(act, unitAxis: 0));
        Assert.Empty(Collapse.DeadUnits(act)); // the last axis (W): every column has an active channel somewhere

        // [N, C, L]: the same along the channels, whatever the length L.
        var seq = Randn(Gen(32), 8, 6, 11).relu() + 0.01;
        seq[.., 0] = 0.0; seq[.., 5] = 0.0;
        Assert.Equal([0, 5], Collapse.DeadUnits(seq, unitAxis: 0));
        Assert.Equal([0, 5], Collapse.DeadUnits(seq, unitAxis: -2));
        Assert.Throws<ArgumentException>(() => Collapse.DeadUnits(seq, unitAxis: 2));
    }

    [Fact]
    public void Copies_of_a_unit_form_one_cluster()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 12, 3, seed: 25);
        foreach (var j in new[] { 7, 9 })
        {
            p["fc1.weight"][j] = p["fc1.weight"][3].clone();
            p["fc1.bias"][j] = p["fc1.bias"][3].clone();
            p["fc2.weight"][.., j] = p["fc2.weight"][.., 3].clone();
        }
        var r = Duplicates.Clusters(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        Assert.Single(r.Clusters);
        Assert.Equal([3, 7, 9], r.Clusters[0]);
        Assert.Equal(2, r.Redundant);
        Assert.Equal(1.0, r.MaxOffDiagonalCosine, 12);

        var viaSym = Duplicates.FromSymmetry(Sym(SymmetryKind.Permutation, 12, HiddenActions()), p);
        Assert.Equal(r.Clusters.Select(c => c.ToList()), viaSym.Clusters.Select(c => c.ToList()));

        // a scaled copy (rescale orbit) is still a duplicate by cosine; a perturbed copy is not at a strict threshold
        p["fc1.weight"][0] = p["fc1.weight"][3] * 2.0;
        p["fc1.bias"][0] = p["fc1.bias"][3] * 2.0;
        p["fc2.weight"][.., 0] = p["fc2.weight"][.., 3] * 2.0;
        Assert.Equal([0, 3, 7, 9], Duplicates.Clusters(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]).Clusters[0]);
    }

    [Fact]
    public void Random_units_negated_copies_and_zero_units()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 10, 3, seed: 26);
        var r = Duplicates.Clusters(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        Assert.Empty(r.Clusters);
        Assert.Equal(0, r.Redundant);
        Assert.True(r.MaxOffDiagonalCosine < 0.99);

        p["fc1.weight"][6] = -p["fc1.weight"][1];
        p["fc1.bias"][6] = -p["fc1.bias"][1];
        p["fc2.weight"][.., 6] = -p["fc2.weight"][.., 1];
        Assert.Empty(Duplicates.Clusters(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]).Clusters);
        Assert.Equal([1, 6], Duplicates.Clusters(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"], signInvariant: true).Clusters[0]);

        var z = torch.zeros(4, 3, dtype: ScalarType.Float64);
        Assert.Empty(Duplicates.Clusters(z, null, torch.zeros(2, 4, dtype: ScalarType.Float64)).Clusters);
    }

    [Fact]
    public void Threshold_is_respected()
    {
        using var scope = torch.NewDisposeScope();
        // unit vectors at known angles: cos(u0,u1) = 0.995, cos(u0,u2) = 0.9
        var u = torch.tensor(new double[] { 1, 0, 0.995, Math.Sqrt(1 - 0.995 * 0.995), 0.9, -Math.Sqrt(1 - 0.81) }, new long[] { 3, 2 }, ScalarType.Float64);
        Assert.Equal([0, 1], Duplicates.FromUnitVectors(u, 0.99).Clusters.Single());
        Assert.Equal([0, 1, 2], Duplicates.FromUnitVectors(u, 0.8).Clusters.Single());
        Assert.Empty(Duplicates.FromUnitVectors(u, 0.999).Clusters);
    }
}
