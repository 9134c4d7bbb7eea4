using Xunit.Abstractions;
using SymDsl.IR;
using SymDsl.Torch.Measures;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

public class BalanceTests(ITestOutputHelper output)
{
    /// <summary>Full-batch gradient descent with autograd: θ ← θ − lr (∇ℓ + decay·θ) (decay = gradient of (decay/2)‖θ‖²).</summary>
    internal static void Descend(Dictionary<string, Tensor> p, Func<IReadOnlyDictionary<string, Tensor>, Tensor> loss, int steps, double lr, double decay)
    {
        foreach (var k in p.Keys.ToList()) p[k] = p[k].detach().clone().requires_grad_(true);
        for (int s = 0; s < steps; s++)
        {
            using var scope = torch.NewDisposeScope();
            var l = loss(p);
            l.backward();
            using var _ = torch.no_grad();
            foreach (var t in p.Values)
            {
                var g = t.grad;
                if (g is null) { if (decay != 0) t.sub_(lr * decay * t); continue; } // unused by the loss
                t.sub_(lr * (g + decay * t));
                g.zero_();
            }
        }
    }

    private static (Dictionary<string, Tensor> p, Func<IReadOnlyDictionary<string, Tensor>, Tensor> loss) ReluRegression(long seed)
    {
        var g = Gen(seed);
        var x = Randn(g, 32, 4);
        var y = Randn(g, 32, 2);
        var p = new Dictionary<string, Tensor>
        {
            ["fc1.weight"] = Randn(g, 6, 4),             // unbalanced on purpose: big in-weights,
            ["fc1.bias"] = Randn(g, 6) * 0.5,
            ["fc2.weight"] = Randn(g, 2, 6) * 0.3,       // small out-weights, so Q_i is far from 0
            ["fc2.bias"] = torch.zeros(2, dtype: ScalarType.Float64),
        };
        var fwd = MlpForward(x, Relu);
        return (p, q => (fwd(q) - y).pow(2).mean());
    }

    /// <summary>
    /// The entropic (discrete-step) motion of Q exactly: one gradient-descent step moves
    /// Q_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖² by lr² (‖∇w_in,i‖² + (∂b_i)² − ‖∇w_out,i‖²), because
    /// w_in,i·∇w_in,i + b_i ∂b_i = w_out,i·∇w_out,i on a rescale orbit (examples/gradient-balance).
    /// </summary>
    [Theory]
    [InlineData(0.3)]
    [InlineData(0.05)]
    public void One_gd_step_moves_the_rescale_quantity_by_lr_squared_times_the_gradient_imbalance(double lr)
    {
        using var scope = torch.NewDisposeScope();
        var (p, loss) = ReluRegression(37);
        foreach (var k in p.Keys.ToList()) p[k] = p[k].detach().clone().requires_grad_(true);
        loss(p).backward();
        var grads = p.ToDictionary(kv => kv.Key, kv => kv.Value.grad!.detach().clone());
        var q0 = Balance.RescaleConserved(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        var (gin, gout) = UnitNorms.Squared(grads["fc1.weight"], grads["fc1.bias"], grads["fc2.weight"]);
        var stepped = p.ToDictionary(kv => kv.Key, kv => (kv.Value.detach() - lr * grads[kv.Key]));
        var q1 = Balance.RescaleConserved(stepped["fc1.weight"], stepped["fc1.bias"], stepped["fc2.weight"]);
        double scale = 0;
        for (int i = 0; i < q0.Length; i++) scale = Math.Max(scale, Math.Abs(lr * lr * (gin[i] - gout[i])));
        Assert.True(scale > 1e-6, "the gradients must be unbalanced for the check to mean anything");
        for (int i = 0; i < q0.Length; i++)
            Assert.Equal(lr * lr * (gin[i] - gout[i]), q1[i] - q0[i], 1e-10 * Math.Max(1, scale) + 1e-12);
    }

    [Fact]
    public void Rescale_quantity_is_conserved_by_small_step_gd_and_broken_by_weight_decay()
    {
        using var scope = torch.NewDisposeScope();
        var (p, loss) = ReluRegression(31);
        var sym = Sym(SymmetryKind.Rescale, 6, HiddenActions());
        var q0 = Balance.RescaleConserved(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        Assert.True(Balance.RelativeDrift(q0, Balance.RescaleConserved(sym, p)) < 1e-14);
        var diag = Balance.ConservedMatrices(sym, p)[0];
        for (int i = 0; i < 6; i++) Assert.Equal(q0[i], diag[i, i], 12);
        var l0 = loss(p).item<double>();

        var plain = new Dictionary<string, Tensor>(p);
        Descend(plain, loss, 2000, 1e-3, 0.0);
        Assert.True(loss(plain).item<double>() < 0.95 * l0, "the descent must actually train");
        var q1 = Balance.RescaleConserved(plain["fc1.weight"], plain["fc1.bias"], plain["fc2.weight"]);
        double drift = Balance.RelativeDrift(q0, q1);
        output.WriteLine($"rescale: loss {l0} → {loss(plain).item<double>()}, drift of Q without decay {drift}");
        Assert.True(drift < 1e-3, $"drift without decay {drift}");
        // the individual norms did move: conservation is not trivial
        var (in0, _) = UnitNorms.Squared(p["fc1.weight"], p["fc1.bias"], p["fc2.weight"]);
        var (in1, _) = UnitNorms.Squared(plain["fc1.weight"], plain["fc1.bias"], plain["fc2.weight"]);
        Assert.True(Balance.RelativeDrift(in0, in1) > 10 * drift, $"in-norms moved only {Balance.RelativeDrift(in0, in1)}");

        var decayed = new Dictionary<string, Tensor>(p);
        Descend(decayed, loss, 2000, 1e-3, 0.1);
        var q2 = Balance.RescaleConserved(decayed["fc1.weight"], decayed["fc1.bias"], decayed["fc2.weight"]);
        double drift2 = Balance.RelativeDrift(q0, q2);
        output.WriteLine($"rescale: drift of Q with decay 0.1: {drift2}");
        Assert.True(drift2 > 1e-2, $"drift with decay {drift2}");
        // gradient flow with decay λ: Q(t) = Q(0) exp(−2λt), t = lr·steps = 2 → factor exp(−0.4)
        double flow = Balance.RelativeDrift(q0.Select(v => v * Math.Exp(-0.4)).ToArray(), q2);
        Assert.True(flow < 1e-2, $"Q(t) vs Q(0)·exp(−2λt): {flow}");
    }

    [Fact]
    public void Rotation_matrix_is_conserved_for_a_two_layer_linear_net()
    {
        using var scope = torch.NewDisposeScope();
        var g = Gen(32);
        var x = Randn(g, 40, 4);
        var y = x.matmul(Randn(g, 4, 3)) + 0.1 * Randn(g, 40, 3);
        var p = new Dictionary<string, Tensor> { ["l0.weight"] = Randn(g, 5, 4), ["l1.weight"] = Randn(g, 3, 5) * 0.3 };
        var fwd = DeepLinearForward(x, 2);
        Func<IReadOnlyDictionary<string, Tensor>, Tensor> loss = q => (fwd(q) - y).pow(2).mean();
        var sym = Sym(SymmetryKind.Rotation, 5, F("l0.weight", 0), I("l1.weight", 1));
        var c0 = Balance.RotationConserved(p["l0.weight"], p["l1.weight"]);
        var cs = Balance.ConservedMatrices(sym, p);
        Assert.Single(cs);
        Assert.True(Balance.RelativeDrift(c0, cs[0]) < 1e-14);

        var plain = new Dictionary<string, Tensor>(p);
        Descend(plain, loss, 2000, 1e-3, 0.0);
        double drift = Balance.RelativeDrift(c0, Balance.RotationConserved(plain["l0.weight"], plain["l1.weight"]));
        output.WriteLine($"rotation: drift of W1W1ᵀ − W2ᵀW2 without decay {drift}");
        Assert.True(drift < 1e-3, $"drift {drift}");
        var none = torch.zeros(0, 5, dtype: ScalarType.Float64); // no consumer: RotationConserved(W₁, ·) = W₁W₁ᵀ
        double alone = Balance.RelativeDrift(Balance.RotationConserved(p["l0.weight"], none), Balance.RotationConserved(plain["l0.weight"], none));
        output.WriteLine($"rotation: drift of W1W1ᵀ alone {alone}");
        Assert.True(alone > 1e-2, $"W1W1ᵀ alone must move: {alone}");

        var decayed = new Dictionary<string, Tensor>(p);
        Descend(decayed, loss, 2000, 1e-3, 0.1);
        double drift2 = Balance.RelativeDrift(c0, Balance.RotationConserved(decayed["l0.weight"], decayed["l1.weight"]));
        output.WriteLine($"rotation: drift with decay {drift2}");
        Assert.True(drift2 > 1e-2, $"drift with decay {drift2}");
    }

    [Fact]
    public void Attention_query_key_quantity_is_conserved_per_head()
    {
        using var scope = torch.NewDisposeScope();
        const int d = 6, heads = 2, dh = 3;
        var p = Attention(d, seed: 33);
        var x = Randn(Gen(34), 5, d);
        var target = Randn(Gen(35), heads, 5, 5);
        var scores = AttentionForward(x, heads, scoresOnly: true);
        Func<IReadOnlyDictionary<string, Tensor>, Tensor> loss = q => (scores(q) - target).pow(2).mean();
        var sym = SymB(SymmetryKind.Rotation, dh, heads, F("attn.q.weight", 0), F("attn.q.bias", 0), I("attn.k.weight", 0), I("attn.k.bias", 0));
        var c0 = Balance.AttentionConserved(p["attn.q.weight"], p["attn.q.bias"], p["attn.k.weight"], p["attn.k.bias"], heads);
        var cs = Balance.ConservedMatrices(sym, p);
        for (int h = 0; h < heads; h++) Assert.True(Balance.RelativeDrift(c0[h], cs[h]) < 1e-14);
        var l0 = loss(p).item<double>();
        var trained = new Dictionary<string, Tensor>(p);
        Descend(trained, loss, 1000, 1e-3, 0.0);
        Assert.True(loss(trained).item<double>() < 0.99 * l0);
        var c1 = Balance.AttentionConserved(trained["attn.q.weight"], trained["attn.q.bias"], trained["attn.k.weight"], trained["attn.k.bias"], heads);
        for (int h = 0; h < heads; h++)
            output.WriteLine($"attention head {h}: loss {l0} → {loss(trained).item<double>()}, drift {Balance.RelativeDrift(c0[h], c1[h])}");
        for (int h = 0; h < heads; h++)
            Assert.True(Balance.RelativeDrift(c0[h], c1[h]) < 1e-3, $"head {h}: {Balance.RelativeDrift(c0[h], c1[h])}");
        // Dropping the biases breaks exact conservation here (they are part of the acted-on parameters).
        var nb0 = Balance.AttentionConserved(p["attn.q.weight"], null, p["attn.k.weight"], null, heads);
        var nb1 = Balance.AttentionConserved(trained["attn.q.weight"], null, trained["attn.k.weight"], null, heads);
        Assert.True(Enumerable.Range(0, heads).Max(h => Balance.RelativeDrift(nb0[h], nb1[h])) > Enumerable.Range(0, heads).Max(h => Balance.RelativeDrift(c0[h], c1[h])));
    }

    [Fact]
    public void Gradient_ratio_of_a_balanced_construction_is_one()
    {
        using var scope = torch.NewDisposeScope();
        var g = Gen(36);
        var gIn = Randn(g, 6, 4);
        var gB = Randn(g, 6);
        var gOut = Randn(g, 3, 6);
        var inNorm = (gIn.pow(2).sum(new long[] { 1 }) + gB.pow(2)).sqrt();
        var outNorm = gOut.pow(2).sum(new long[] { 0 }).sqrt();
        var balanced = gOut * (inNorm / outNorm).unsqueeze(0);
        var r = Balance.GradientRatio(gIn, gB, balanced);
        Assert.All(r.Ratios, x => Assert.Equal(1.0, x, 12));
        Assert.Equal(1.0, r.Median, 12);
        Assert.Equal(0.0, r.MeanLogRatio, 12);
        Assert.Equal(6, r.Finite);

        var twice = Balance.GradientRatio(gIn, gB, balanced * 2.0);
        Assert.Equal(0.25, twice.Median, 12);
        Assert.Equal(Math.Log(0.25), twice.MeanLogRatio, 12);

        var grads = new Dictionary<string, Tensor> { ["fc1.weight"] = gIn, ["fc1.bias"] = gB, ["fc2.weight"] = balanced };
        Assert.Equal(1.0, Balance.GradientRatio(Sym(SymmetryKind.Rescale, 6, HiddenActions()), grads).Median, 12);

        // zero out-gradient: +∞, both zero: NaN; neither enters the summaries
        var gOut2 = balanced.clone(); gOut2[.., 0] = torch.zeros(3, dtype: ScalarType.Float64);
        var gIn2 = gIn.clone(); gIn2[1] = torch.zeros(4, dtype: ScalarType.Float64);
        var gB2 = gB.clone(); gB2[1] = torch.tensor(0.0, ScalarType.Float64);
        gOut2[.., 1] = torch.zeros(3, dtype: ScalarType.Float64);
        var r2 = Balance.GradientRatio(gIn2, gB2, gOut2);
        Assert.True(double.IsPositiveInfinity(r2.Ratios[0]));
        Assert.True(double.IsNaN(r2.Ratios[1]));
        Assert.Equal(4, r2.Finite);
        Assert.Equal(1.0, r2.Median, 12);
    }

    [Fact]
    public void Rotation_gradient_imbalance_is_zero_when_balanced()
    {
        using var scope = torch.NewDisposeScope();
        var g1 = Randn(Gen(37), 5, 4);                   // ∇W₁ [h=5, in=4]
        var q = torch.tensor(SymDsl.Torch.Symmetry.GroupActions.RandomOrthogonal(4, new Random(3)), new long[] { 4, 4 }, ScalarType.Float64);
        var g2 = q.matmul(g1.t());                         // ∇W₂ [out=4, h=5] with ∇W₂ᵀ∇W₂ = ∇W₁∇W₁ᵀ
        Assert.True(Balance.RotationGradientImbalance(g1, g2) < 1e-14);
        Assert.True(Balance.RotationGradientImbalance(g1, Randn(Gen(38), 4, 5)) > 0.1);
    }
}
