namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/stepwise-deep-linear: a two-layer linear net from small initialisation learns the modes of a low-rank map one
/// at a time, strongest first, at times close to Saxe, McClelland &amp; Ganguli (2014). Fast variant: the README's file
/// and length at width 24 (the README's run uses 16), seeds 2 and 3.
/// </summary>
public class StepwiseDeepLinearTests
{
    const string File = "stepwise-deep-linear/stepwise.sym";
    // The example's settings (stepwise.sym): d, lr, init std, singular values top·ratio^i.
    const int D = 8, Width = 24, Modes = 4;
    const double Lr = 0.2, InitStd = 0.001, Top = 2.0, Ratio = 0.7;

    /// <summary>
    /// Half-time of mode i: τ/(2 s_i) · ln(s_i/u0 − 1) with τ = d/(2 lr) (mse averages over the d outputs) and
    /// u0 = width·std²/2 (README.md derives both).
    /// </summary>
    static double Predicted(double s) => D / (2 * Lr) / (2 * s) * Math.Log(s / (Width * InitStd * InitStd / 2) - 1);

    /// <summary>First step at which rank(y).svK reaches half its final value (linear interpolation between samples).</summary>
    static double HalfTime(List<(long step, double value)> sv)
    {
        double half = sv[^1].value / 2;
        for (int k = 1; k < sv.Count; k++)
            if (sv[k - 1].value < half && sv[k].value >= half)
                return sv[k - 1].step + (half - sv[k - 1].value) / (sv[k].value - sv[k - 1].value) * (sv[k].step - sv[k - 1].step);
        return double.NaN;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Modes_are_learned_one_at_a_time_strongest_first_at_the_predicted_times(int seed)
    {
        var run = ExampleRun.Train(File, ExampleRun.TempDir("stepwise"), "--seed", seed.ToString(), "--set", $"width={Width}");

        // The loss plateaus at the start (nothing learned in the first 20 steps), then falls to ~0.
        var loss = ExampleRun.Series(run, "loss");
        Assert.True(loss.First(l => l.step >= 20).value > 0.95 * loss[0].value, "no initial plateau");
        Assert.True(loss[^1].value < 1e-3 * loss[0].value, $"final loss {loss[^1].value}");

        // Mode events: four, one per target mode, strongest first (mode k's rise to half its final value; value = k).
        var events = ExampleRun.Events(run).Where(e => e.kind == "rank(y)").ToList();
        Assert.Equal([1.0, 2.0, 3.0, 4.0], events.Select(e => e.value));

        // Half-times per mode: ordered by singular value, and close to the theory (absolute and as ratios to mode 1).
        var t = Enumerable.Range(1, Modes).Select(k => HalfTime(ExampleRun.Series(run, $"rank(y).sv{k}"))).ToArray();
        var p = Enumerable.Range(0, Modes).Select(i => Predicted(Top * Math.Pow(Ratio, i))).ToArray();
        var table = string.Join("; ", Enumerable.Range(0, Modes).Select(i => $"mode {i + 1}: {t[i]:F1} vs {p[i]:F1}"));
        for (int i = 1; i < Modes; i++) Assert.True(t[i] > t[i - 1], "modes not learned strongest first: " + table);
        for (int i = 0; i < Modes; i++)
        {
            Assert.True(Math.Abs(t[i] - p[i]) / p[i] < 0.35, "half-time far from the prediction: " + table);
            Assert.True(Math.Abs(t[i] / t[0] - p[i] / p[0]) / (p[i] / p[0]) < 0.35, "time ratio far from the prediction: " + table);
        }
    }
}
