using SymDsl.IR;
using SymDsl.Torch.Measures;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

/// <summary>
/// The fast measures against their reference computations: the screened duplicate search against all pairs
/// (<see cref="DuplicateSearch.Exact"/>), Gram-matrix singular values against svdvals, the vectorised unit norms and
/// batched conserved matrices against per-unit / per-block loops.
/// </summary>
public class FastMeasuresTests
{
    /// <summary>[n, k] units: random directions with random norms, then copies, scaled copies and negated copies.</summary>
    static Tensor Units(int n, int k, int seed, int copies = 0, double noise = 0.0)
    {
        var g = Gen(seed);
        var u = Randn(g, n, k) * (torch.rand(new long[] { n, 1 }, ScalarType.Float64, generator: g) + 0.1);
        var rng = new Random(seed);
        for (int c = 0; c < copies; c++)
        {
            int from = rng.Next(n), to = rng.Next(n);
            if (from == to) continue;
            double scale = (rng.NextDouble() + 0.5) * (rng.Next(2) == 0 ? 1 : -1); // scaled, sometimes negated
            u[to] = u[from] * scale + Randn(g, k) * noise;
        }
        return u;
    }

    static void AssertSame(DuplicateResult exact, DuplicateResult fast, string what)
    {
        Assert.True(exact.Clusters.Count == fast.Clusters.Count, $"{what}: {exact.Clusters.Count} clusters exactly, {fast.Clusters.Count} screened");
        for (int c = 0; c < exact.Clusters.Count; c++) Assert.Equal(exact.Clusters[c], fast.Clusters[c]);
        Assert.True(exact.MaxCosineExact);
        if (fast.MaxCosineExact)
            Assert.True(Math.Abs(exact.MaxOffDiagonalCosine - fast.MaxOffDiagonalCosine) <= 1e-12, $"{what}: max cos {exact.MaxOffDiagonalCosine} vs {fast.MaxOffDiagonalCosine}");
        else
        {
            // The stated bound: the reported value is a compared pair's cosine (≤ the true largest), and the true largest is below the bound.
            Assert.True(fast.MaxOffDiagonalCosine <= exact.MaxOffDiagonalCosine + 1e-12, what);
            Assert.True(exact.MaxOffDiagonalCosine < fast.MaxCosineBound, what);
        }
    }

    [Theory]
    [InlineData(200, 12, 0.99, 0)]       // all pairs (below the budget)
    [InlineData(1500, 20, 0.99, 0)]      // random: no duplicates, max cos below the floor
    [InlineData(1500, 20, 0.99, 300)]    // exact, scaled and negated copies
    [InlineData(2000, 75, 0.99, 400)]    // the MLP's unit length (64 + 1 + 10)
    [InlineData(1200, 6, 0.9, 200)]      // few dimensions (fewer than the 8 projections), a lower threshold
    public void Screened_search_gives_the_clusters_and_max_cosine_of_all_pairs(int n, int k, double t, int copies)
    {
        using var scope = torch.NewDisposeScope();
        var u = Units(n, k, seed: n + k + copies, copies: copies, noise: 0.02 / Math.Sqrt(k));
        foreach (var signInvariant in new[] { false, true })
        {
            var exact = Duplicates.FromUnitVectors(u, t, signInvariant, DuplicateSearch.Exact);
            var fast = Duplicates.FromUnitVectors(u, t, signInvariant);
            AssertSame(exact, fast, $"n {n} k {k} t {t} copies {copies} sign {signInvariant}");
            if (copies > 0) Assert.NotEmpty(exact.Clusters); // the test exercises linking
            if (copies > 0) Assert.True(fast.MaxCosineExact);
        }
    }

    [Fact]
    public void Pairs_just_above_and_below_the_threshold_are_decided_as_all_pairs_decide_them()
    {
        using var scope = torch.NewDisposeScope();
        const int n = 1600, k = 40;
        const double t = 0.99;
        var g = Gen(41);
        var u = Randn(g, n, k);
        // Pairs at cos = t ± δ: v = cos θ · a + sin θ · b with b ⊥ a, for δ from 1e-3 down to 1e-9 on both sides.
        int row = 0;
        foreach (var delta in new[] { 1e-3, 1e-5, 1e-7, 1e-9, -1e-9, -1e-7, -1e-5, -1e-3 })
        {
            var a = u[row] / u[row].norm();
            var b = u[row + 1] - (u[row + 1] * a).sum() * a;
            b = b / b.norm();
            double c = t + delta, s = Math.Sqrt(1 - c * c);
            u[row + 1] = (a * c + b * s) * 3.0;
            row += 2;
        }
        var exact = Duplicates.FromUnitVectors(u, t, search: DuplicateSearch.Exact);
        var fast = Duplicates.FromUnitVectors(u, t);
        AssertSame(exact, fast, "near threshold");
        Assert.Equal(4, exact.Clusters.Count); // the four pairs above t
        Assert.Equal([[0, 1], [2, 3], [4, 5], [6, 7]], fast.Clusters);
    }

    [Fact]
    public void Width_4096_with_duplicated_and_sign_flipped_units()
    {
        using var scope = torch.NewDisposeScope();
        var u = Units(4096, 75, seed: 43, copies: 600, noise: 0.01 / Math.Sqrt(75));
        foreach (var signInvariant in new[] { false, true })
            AssertSame(Duplicates.FromUnitVectors(u, 0.99, signInvariant, DuplicateSearch.Exact),
                Duplicates.FromUnitVectors(u, 0.99, signInvariant), $"4096 sign {signInvariant}");
    }

    /// <summary>
    /// The binned sweep (cells on the second and third projections) compares exactly the pairs the window sweep compares: the
    /// same clusters and the same largest compared cosine, bit for bit, also below the floor where it is only a lower bound.
    /// </summary>
    [Theory]
    [InlineData(3000, 75, 0.99, 0, 0.0, false)]     // random units (the largest cosine below the floor)
    [InlineData(3000, 75, 0.99, 500, 0.0, true)]    // copies, scaled and negated; sign-invariant
    [InlineData(2500, 20, 0.9, 300, 0.0, false)]    // a lower threshold: wider cells
    [InlineData(2500, 30, 0.99, 200, 0.7, false)]   // a lower floor (0.7): far wider windows and cells
    [InlineData(4000, 75, 0.999, 300, 0.0, true)]   // a high threshold: many cells (capped)
    public void The_binned_sweep_compares_the_same_pairs_as_the_window_sweep(int n, int k, double t, int copies, double floor, bool signInvariant)
    {
        using var scope = torch.NewDisposeScope();
        var u = Units(n, k, seed: n + k + copies + 7, copies: copies, noise: 0.03 / Math.Sqrt(k));
        // Anisotropic units (a few dominant directions), as trained weights are: the projections spread over many cells.
        u = u * (torch.linspace(3.0, 0.2, k, ScalarType.Float64) * torch.linspace(3.0, 0.2, k, ScalarType.Float64));
        double f = floor > 0 ? floor : t;
        var grid = DuplicateScreen.Search(u, t, signInvariant, f, grid: true);
        var window = DuplicateScreen.Search(u, t, signInvariant, f, grid: false);
        Assert.Equal(window.Clusters.Count, grid.Clusters.Count);
        for (int c = 0; c < window.Clusters.Count; c++) Assert.Equal(window.Clusters[c], grid.Clusters[c]);
        Assert.Equal(BitConverter.DoubleToInt64Bits(window.MaxOffDiagonalCosine), BitConverter.DoubleToInt64Bits(grid.MaxOffDiagonalCosine));
        Assert.Equal(window.MaxCosineBound, grid.MaxCosineBound);
        if (copies > 0) Assert.NotEmpty(grid.Clusters);
        AssertSame(Duplicates.FromUnitVectors(u, t, signInvariant, DuplicateSearch.Exact), grid, $"n {n} k {k} t {t}");
    }

    [Fact]
    public void A_lower_floor_makes_the_max_cosine_exact_and_zero_units_are_never_linked()
    {
        using var scope = torch.NewDisposeScope();
        var u = Units(1500, 10, seed: 44);
        u[3] = torch.zeros(10, ScalarType.Float64);
        u[7] = torch.zeros(10, ScalarType.Float64);
        var exact = Duplicates.FromUnitVectors(u, 0.999, search: DuplicateSearch.Exact);
        Assert.True(exact.MaxOffDiagonalCosine < 0.999); // random units in 10 dimensions: close, but not duplicated
        var below = Duplicates.FromUnitVectors(u, 0.999);
        AssertSame(exact, below, "floor = threshold");
        var floored = Duplicates.FromUnitVectors(u, 0.999, maxCosineFloor: exact.MaxOffDiagonalCosine - 0.01);
        Assert.True(floored.MaxCosineExact);
        Assert.Equal(exact.MaxOffDiagonalCosine, floored.MaxOffDiagonalCosine, 12);
        Assert.DoesNotContain(floored.Clusters, c => c.Contains(3) || c.Contains(7));

        // Fewer than two nonzero units: no clusters, NaN, as the exact search.
        var z = torch.zeros(600, 4, ScalarType.Float64);
        z[5] = torch.ones(4, ScalarType.Float64);
        var r = Duplicates.FromUnitVectors(z);
        Assert.Empty(r.Clusters);
        Assert.True(double.IsNaN(r.MaxOffDiagonalCosine));
    }

    [Fact]
    public void Symmetry_view_uses_the_screened_search_by_default()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(30, 1024, 10, seed: 45);
        for (int j = 0; j < 40; j++)
        {
            p["fc1.weight"][100 + j] = p["fc1.weight"][j] * 2.0;
            p["fc1.bias"][100 + j] = p["fc1.bias"][j] * 2.0;
            p["fc2.weight"][.., 100 + j] = p["fc2.weight"][.., j] * 2.0;
        }
        var sym = Sym(SymmetryKind.Permutation, 1024, HiddenActions());
        var fast = Duplicates.FromSymmetry(sym, p);
        var exact = Duplicates.FromSymmetry(sym, p, search: DuplicateSearch.Exact);
        AssertSame(exact, fast, "mlp");
        Assert.Equal(40, fast.Redundant);
        Assert.Equal(1.0, fast.MaxOffDiagonalCosine, 12);
    }

    [Theory]
    [InlineData(4096, 64)]
    [InlineData(64, 1024)]
    [InlineData(300, 300)]
    [InlineData(1, 50)]
    public void Gram_singular_values_agree_with_svdvals(int rows, int cols)
    {
        using var scope = torch.NewDisposeScope();
        var a = Randn(Gen(rows + cols), rows, cols) * 0.3;
        var fast = Rank.SingularValues(a);
        var svd = Rank.SingularValues(a, SingularValueMethod.Svd);
        Assert.Equal(svd.Length, fast.Length);
        for (int i = 0; i < svd.Length; i++)
            Assert.True(Math.Abs(fast[i] - svd[i]) <= 1e-8 * svd[i], $"s{i}: {fast[i]} vs {svd[i]}");
        Assert.Equal(Rank.EffectiveFromSingularValues(svd), Rank.EffectiveFromSingularValues(fast), 10);
        Assert.Equal(Rank.StableFromSingularValues(svd), Rank.StableFromSingularValues(fast), 10);
    }

    [Theory]
    [InlineData(1e-1)]
    [InlineData(3e-3)]  // near the Gram path's limit
    [InlineData(1e-4)]  // beyond it: svdvals
    [InlineData(0.0)]   // rank-deficient: svdvals
    public void Ill_conditioned_matrices_keep_svd_accuracy(double smallest)
    {
        using var scope = torch.NewDisposeScope();
        double[] s = [5, 3, 1, 0.5, smallest * 5];
        var a = RankTests.WithSingularValues(2000, 5, s, seed: 46).t(); // [5, 2000]: the Gram side is 5×5
        var fast = Rank.SingularValues(a);
        var svd = Rank.SingularValues(a, SingularValueMethod.Svd);
        for (int i = 0; i < 5; i++)
            Assert.True(Math.Abs(fast[i] - svd[i]) <= 1e-8 * svd[i] + 1e-14 * svd[0], $"s{i}: {fast[i]} vs {svd[i]}");
        for (int i = 0; i < 5; i++)
            Assert.True(Math.Abs(fast[i] - s[i]) <= 1e-6 * s[i] + 1e-12, $"s{i}: {fast[i]} vs {s[i]}");
        Assert.Equal(Rank.EffectiveFromSingularValues(svd), Rank.EffectiveFromSingularValues(fast), 10);
    }

    [Fact]
    public void Unit_norms_match_the_per_unit_slices_with_blocks_and_multi_entry_units()
    {
        using var scope = torch.NewDisposeScope();
        var g = Gen(47);
        // 3 blocks × 4 units; conv.weight [12·2, 5, 3] with 2 entries per unit along axis 0; lin.weight [7, 12] inverse.
        var p = new Dictionary<string, Tensor>
        {
            ["conv.weight"] = Randn(g, 24, 5, 3),
            ["conv.bias"] = Randn(g, 24),
            ["lin.weight"] = Randn(g, 7, 12),
        };
        ParamActionIR[] actions = [new("conv.weight", 0, ActionRole.Forward, 2), new("conv.bias", 0, ActionRole.Forward, 2), new("lin.weight", -1, ActionRole.Inverse)];
        var sym = SymB(SymmetryKind.Rescale, 4, 3, actions);
        var (inSq, outSq) = UnitNorms.FromSymmetry(sym, p);
        var fIn = UnitNorms.Slices(sym, p, ActionRole.Forward)!;
        var fOut = UnitNorms.Slices(sym, p, ActionRole.Inverse)!;
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(fIn[i].square().sum().item<double>(), inSq[i], 12);
            Assert.Equal(fOut[i].square().sum().item<double>(), outSq[i], 12);
        }
        var (a, b) = UnitNorms.Squared(p["conv.weight"].reshape(12, -1), p["conv.bias"].reshape(12, 2).square().sum(new long[] { 1 }).sqrt(), p["lin.weight"]);
        for (int i = 0; i < 12; i++) { Assert.Equal(inSq[i], a[i], 10); Assert.Equal(outSq[i], b[i], 12); }
    }

    [Fact]
    public void Batched_conserved_matrices_and_gradient_imbalances_match_per_block_loops()
    {
        using var scope = torch.NewDisposeScope();
        var g = Gen(48);
        var p = new Dictionary<string, Tensor> { ["w1"] = Randn(g, 12, 5), ["w2"] = Randn(g, 3, 12) };
        var sym = SymB(SymmetryKind.Rotation, 4, 3, [F("w1", 0), I("w2", 1)]);
        var cs = Balance.ConservedMatrices(sym, p);
        var imb = Balance.RotationGradientImbalances(sym, p);
        Assert.Equal(3, cs.Length);
        Assert.Equal(3, imb.Length);
        for (int blk = 0; blk < 3; blk++)
        {
            var w1 = p["w1"].narrow(0, blk * 4, 4);
            var w2 = p["w2"].narrow(1, blk * 4, 4);
            var expect = Balance.RotationConserved(w1, w2);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) Assert.Equal(expect[i, j], cs[blk][i, j], 12);
            Assert.Equal(Balance.RotationGradientImbalance(w1, w2), imb[blk], 12);
        }
        // Attention per head, batched, against one head at a time.
        var wq = Randn(g, 8, 6); var wk = Randn(g, 8, 6); var bq = Randn(g, 8); var bk = Randn(g, 8);
        var heads = Balance.AttentionConserved(wq, bq, wk, bk, heads: 2);
        for (int h = 0; h < 2; h++)
        {
            var one = Balance.AttentionConserved(wq.narrow(0, h * 4, 4), bq.narrow(0, h * 4, 4), wk.narrow(0, h * 4, 4), bk.narrow(0, h * 4, 4), heads: 1)[0];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) Assert.Equal(one[i, j], heads[h][i, j], 12);
        }
    }
}
