using SymDsl.Torch.Measures;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

public class RankTests
{
    /// <summary>U diag(s) Vᵀ [m, n] with random orthonormal U, V (seeded) and the given singular values.</summary>
    internal static Tensor WithSingularValues(int m, int n, double[] s, int seed)
    {
        var rng = new Random(seed);
        var u = torch.tensor(GroupActions.RandomOrthogonal(m, rng), new long[] { m, m }, ScalarType.Float64).narrow(1, 0, s.Length);
        var v = torch.tensor(GroupActions.RandomOrthogonal(n, rng), new long[] { n, n }, ScalarType.Float64).narrow(1, 0, s.Length);
        return (u * torch.tensor(s, ScalarType.Float64).unsqueeze(0)).matmul(v.t());
    }

    [Fact]
    public void Identity_has_full_effective_stable_and_numerical_rank()
    {
        using var scope = torch.NewDisposeScope();
        var eye = torch.eye(7, dtype: ScalarType.Float64);
        Assert.Equal(7.0, Rank.Effective(eye), 10);
        Assert.Equal(7.0, Rank.Stable(eye), 10);
        Assert.Equal(7, Rank.Numerical(eye));
    }

    [Fact]
    public void Rank_r_with_equal_singular_values_has_rank_r_everywhere()
    {
        using var scope = torch.NewDisposeScope();
        var a = WithSingularValues(8, 6, [2.5, 2.5, 2.5], seed: 1);
        Assert.Equal(3.0, Rank.Effective(a), 8);
        Assert.Equal(3.0, Rank.Stable(a), 8);
        Assert.Equal(3, Rank.Numerical(a));
        Assert.Equal(3, Rank.Numerical(a.to(ScalarType.Float32), 1e-5));
    }

    [Fact]
    public void Known_spectrum_gives_known_values()
    {
        using var scope = torch.NewDisposeScope();
        double[] s = [4, 2, 1];
        var a = WithSingularValues(5, 9, s, seed: 2);
        var sv = Rank.SingularValues(a);
        Assert.Equal(5, sv.Length);
        for (int i = 0; i < 3; i++) Assert.Equal(s[i], sv[i], 10);
        Assert.True(sv[3] < 1e-12 && sv[4] < 1e-12);
        double h = -(4.0 / 7 * Math.Log(4.0 / 7) + 2.0 / 7 * Math.Log(2.0 / 7) + 1.0 / 7 * Math.Log(1.0 / 7));
        Assert.Equal(Math.Exp(h), Rank.Effective(a), 8);       // ≈ 2.53
        Assert.InRange(Rank.Effective(a), 2.4, 2.7);
        Assert.Equal(21.0 / 16.0, Rank.Stable(a), 10);
        Assert.Equal(3, Rank.Numerical(a));
        Assert.Equal(1, Rank.Numerical(a, relTol: 0.6));       // only s₁ = 4 exceeds 0.6·4 = 2.4
    }

    [Fact]
    public void Degenerate_inputs()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(0.0, Rank.Effective(torch.zeros(3, 4)));
        Assert.Equal(0.0, Rank.Stable(torch.zeros(3, 4)));
        Assert.Equal(0, Rank.Numerical(torch.zeros(3, 4)));
        Assert.Equal(1.0, Rank.Effective(torch.tensor(new[] { 1.0, -2.0, 3.0 })), 12); // a vector is a 1×n matrix
        // rank ≥ 3 tensors are flattened to [size(0), rest]
        var t = torch.zeros(2, 2, 2, dtype: ScalarType.Float64);
        t[0, 0, 0] = 1.0; t[1, 1, 1] = 1.0;
        Assert.Equal(2.0, Rank.Effective(t), 12);
        // scaling does not change effective or stable rank
        var a = WithSingularValues(6, 6, [3, 1, 0.5, 0.1], seed: 3);
        Assert.Equal(Rank.Effective(a), Rank.Effective(a * 17.0), 10);
        Assert.Equal(Rank.Stable(a), Rank.Stable(a * 0.01), 10);
    }
}
