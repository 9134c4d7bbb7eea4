namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/gradient-balance: at equal lr·steps, full-batch gradient descent moves the rescale conserved quantity
/// Q_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖² by lr² (‖∇w_in,i‖² + (∂b_i)² − ‖∇w_out,i‖²) per step — the discrete-step (entropic)
/// term of Neural Thermodynamics I — so its drift over a fixed lr·steps grows ∝ lr and vanishes in the gradient-flow limit.
/// The gradient imbalance |mean ln r_i| falls in every run. Fast variant: width 24 (README: 32), lr·steps 3.2 (README: 4),
/// learning rates 0.05, 0.2, 0.4 (README: 0.025 … 0.4), seeds 4 and 5 (README: 1–3).
/// </summary>
public class GradientBalanceTests
{
    const string File = "gradient-balance/balance.sym";

    static (double qDrift, double imbalance0, double imbalance1) Measure(string run)
    {
        var q = ExampleRun.Series(run, "balance(s)");
        var m = ExampleRun.Series(run, "balance(s).log_ratio");
        return (Math.Abs(q[^1].value - q[0].value) / Math.Abs(q[0].value), Math.Abs(m[0].value), Math.Abs(m[^1].value));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void Conserved_quantity_drift_at_equal_lr_steps_grows_with_lr(int seed)
    {
        var root = ExampleRun.TempDir("gradient-balance");
        var runs = new[] { (lr: 0.05, steps: 64, k: 8), (lr: 0.2, steps: 16, k: 2), (lr: 0.4, steps: 8, k: 1) }
            .Select(g => (g.lr, m: Measure(ExampleRun.Train(File, Path.Combine(root, $"lr{g.lr}"),
                "--seed", seed.ToString(), "--set", "width=24", "--steps", g.steps.ToString(),
                "--set", $"lr={g.lr}", "--set", $"k={g.k}"))))
            .ToArray();
        var msg = string.Join("; ", runs.Select(r => $"lr {r.lr}: Q drift {r.m.qDrift:P3}, |mean ln r| {r.m.imbalance0:F3} → {r.m.imbalance1:F3}"));

        // Q drift grows with lr, roughly ∝ lr (predicted ratio 8 between lr 0.4 and 0.05).
        Assert.True(runs[0].m.qDrift < runs[1].m.qDrift && runs[1].m.qDrift < runs[2].m.qDrift, msg);
        double ratio = runs[2].m.qDrift / runs[0].m.qDrift;
        Assert.True(ratio > 4 && ratio < 16, $"drift ratio lr 0.4 / lr 0.05 = {ratio:F2} (predicted 8); {msg}");
        // Gradient-flow limit: the smallest lr keeps Q to well under 1 %.
        Assert.True(runs[0].m.qDrift < 0.01, msg);
        // The gradient imbalance falls in every run.
        foreach (var r in runs) Assert.True(r.m.imbalance1 < r.m.imbalance0, msg);
    }
}
