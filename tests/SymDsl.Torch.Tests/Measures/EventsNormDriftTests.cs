using SymDsl.IR;
using SymDsl.Torch.Measures;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Measures;

public class EventsNormDriftTests
{
    private static List<(long, double)> Staircase(double noise, int seed, params (int samples, double level)[] segments)
    {
        var rng = new Random(seed);
        var s = new List<(long, double)>();
        long step = 0;
        foreach (var (samples, level) in segments)
            for (int i = 0; i < samples; i++, step += 10)
                s.Add((step, level + noise * (2 * rng.NextDouble() - 1)));
        return s;
    }

    [Fact]
    public void Level_rule_finds_the_staircase_steps_in_order_and_ignores_blips()
    {
        var s = Staircase(0.2, 1, (15, 1), (15, 2), (15, 4), (15, 5));
        s[5] = (s[5].Item1, 3.0); // a one-sample blip
        var ev = Events.Detect(s, "rank(h)");
        Assert.Equal(3, ev.Count);
        Assert.Equal(new OrderEvent(150, "rank(h)", 1, 2), ev[0]);
        Assert.Equal(new OrderEvent(300, "rank(h)", 2, 4), ev[1]);
        Assert.Equal(new OrderEvent(450, "rank(h)", 4, 5), ev[2]);
        // persistence 1 reports the blip (there and back)
        var ev1 = Events.Detect(s, "rank(h)", new EventOptions(Persistence: 1));
        Assert.Equal(5, ev1.Count);
        Assert.Equal((50L, 1.0, 3.0), (ev1[0].Step, ev1[0].From, ev1[0].To));
        Assert.Equal((60L, 3.0, 1.0), (ev1[1].Step, ev1[1].From, ev1[1].To));
    }

    [Fact]
    public void Level_rule_handles_decreases_unsorted_input_and_constant_series()
    {
        var s = Staircase(0.0, 2, (5, 8), (5, 6), (5, 6));
        s.Reverse();
        var ev = Events.Detect(s, "collapse(scale)");
        Assert.Single(ev);
        Assert.Equal(new OrderEvent(50, "collapse(scale)", 8, 6), ev[0]);
        Assert.Empty(Events.Detect(Staircase(0.3, 3, (40, 2)), "m"));
        Assert.Empty(Events.Detect(new List<(long, double)>(), "m"));
        // a change in the last samples, shorter than the persistence, is not confirmed
        Assert.Empty(Events.Detect(Staircase(0, 4, (10, 1), (2, 2)), "m"));
        // quantum: levels of 0.5
        var half = Events.Detect(Staircase(0.1, 5, (6, 1.0), (6, 1.5)), "m", new EventOptions(Quantum: 0.5));
        Assert.Equal(new OrderEvent(60, "m", 1.0, 1.5), half.Single());
    }

    [Fact]
    public void Jump_rule_finds_abrupt_changes_of_a_continuous_value()
    {
        var s = Staircase(0.01, 6, (20, 1.0), (20, 1.7), (20, 0.9));
        var ev = Events.Detect(s, "erank", new EventOptions(Rule: EventRule.Jump));
        Assert.Equal(2, ev.Count);
        Assert.Equal(200, ev[0].Step);
        Assert.InRange(ev[0].From, 0.98, 1.02);
        Assert.InRange(ev[0].To, 1.68, 1.72);
        Assert.Equal(400, ev[1].Step);
        Assert.True(ev[1].To < ev[1].From);

        // a sigmoid-like rise over three samples is one event
        var r = Staircase(0.01, 7, (20, 1.0)).ToList();
        r.Add((200, 1.3)); r.Add((210, 1.7)); r.Add((220, 2.0));
        r.AddRange(Staircase(0.01, 8, (20, 2.0)).Select(p => (p.Item1 + 230, p.Item2)));
        var er = Events.Detect(r, "erank", new EventOptions(Rule: EventRule.Jump));
        Assert.Single(er);
        Assert.Equal(200, er[0].Step);
        Assert.InRange(er[0].To, 1.99, 2.01);
        Assert.Empty(Events.Detect(Staircase(0.01, 9, (60, 1.0)), "erank", new EventOptions(Rule: EventRule.Jump)));
    }

    [Fact]
    public void Norm_and_drift_known_values()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(5.0, Norm.Frobenius(torch.tensor(new[] { 3.0, 4.0 }, new long[] { 1, 2 })), 12);
        Assert.Equal(13.0, Norm.Frobenius([torch.tensor(new[] { 3.0, 4.0 }), torch.tensor(new[] { 12.0f })]), 5);
        Assert.Equal(0.1 / 25.0, Norm.EffectiveLearningRate(0.1, torch.tensor(new[] { 3.0, 4.0 })), 12);
        Assert.Equal(3.0, Drift.MeanBias(torch.tensor(new[] { 1.0, 2.0, 3.0, 6.0 })), 12);
    }

    [Fact]
    public void Mean_logit_bias_is_conserved_by_gd_on_cross_entropy_and_weight_norm_before_layer_norm()
    {
        using var scope = torch.NewDisposeScope();
        var g = Gen(51);
        var x = Randn(g, 30, 4);
        var labels = torch.randint(0, 3, new long[] { 30 }, generator: g);
        var p = new Dictionary<string, Tensor> { ["fc.weight"] = Randn(g, 3, 4), ["fc.bias"] = Randn(g, 3) };
        Func<IReadOnlyDictionary<string, Tensor>, Tensor> ce = q =>
            torch.nn.functional.cross_entropy(x.matmul(q["fc.weight"].t()) + q["fc.bias"], labels);
        double m0 = Drift.MeanBias(p["fc.bias"]);
        var trained = new Dictionary<string, Tensor>(p);
        BalanceTests.Descend(trained, ce, 300, 0.1, 0.0);
        Assert.True(Math.Abs(Drift.MeanBias(trained["fc.bias"]) - m0) < 1e-12);
        Assert.True((trained["fc.bias"] - p["fc.bias"]).abs().max().item<double>() > 1e-2, "the bias must move");

        // scale: LN(xWᵀ + b) has ⟨θ, ∇ℓ⟩ = 0, so ‖(W, b)‖ changes only by O(lr²) per step
        var target = Randn(g, 30, 6);
        var q0 = new Dictionary<string, Tensor> { ["fc.weight"] = Randn(g, 6, 4), ["fc.bias"] = Randn(g, 6) };
        Func<IReadOnlyDictionary<string, Tensor>, Tensor> ln = q => (LayerNorm(x.matmul(q["fc.weight"].t()) + q["fc.bias"]) - target).pow(2).mean();
        double n0 = Norm.Frobenius([q0["fc.weight"], q0["fc.bias"]]);
        var q1 = new Dictionary<string, Tensor>(q0);
        BalanceTests.Descend(q1, ln, 500, 1e-2, 0.0);
        double n1 = Norm.Frobenius([q1["fc.weight"], q1["fc.bias"]]);
        Assert.True(Math.Abs(n1 - n0) / n0 < 1e-3, $"{n0} → {n1}");
        var q2 = new Dictionary<string, Tensor>(q0);
        BalanceTests.Descend(q2, ln, 500, 1e-2, 0.5);
        double n2 = Norm.Frobenius([q2["fc.weight"], q2["fc.bias"]]);
        Assert.True((n0 - n2) / n0 > 1e-2, $"weight decay must shrink the norm: {n0} → {n2}");
    }
}
