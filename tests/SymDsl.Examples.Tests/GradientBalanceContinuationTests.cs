using System.Globalization;
using Xunit.Abstractions;

namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/gradient-balance's continuation claim (issue 17), CI variant of <see cref="BalanceContinuationGrid"/> on sizes and
/// seeds the README did not use: width 24 (README: 32), seeds 4 and 5 (README: 1–3), pretraining 800 steps (README: 2000) at
/// lr 0.2, full batch; then from those weights lr 0.05 and 0.4 at lr·steps = 8 (README: 0.025 … 0.4 at 20), full batch, and
/// lr 0.05 at batch 16 for the same 160 steps as the full-batch lr 0.05 run (README: lr 0.1, batch 16/64/256).
/// What the README claims holds there: near convergence the entropic term's own predicted balancing rate is tiny, the
/// per-unit imbalance mean_i |ln r_i| (full-batch gradient) barely moves under full-batch GD at either lr, and gradient
/// noise makes it larger, not smaller.
/// </summary>
public class GradientBalanceContinuationTests(ITestOutputHelper output)
{
    const int Width = 24, Pretrain = 800;
    const double PretrainLr = 0.2, Total = 8;

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void From_a_trained_net_gd_barely_moves_the_unit_imbalance_and_noise_raises_it(int seed)
    {
        using var setup = BalanceContinuation.Load(seed, Width);
        var full = (int)setup.Data.TrainCount;
        var pre = BalanceContinuation.Steps(setup, PretrainLr, full, Pretrain, Pretrain / 4, 0);
        var start = BalanceContinuation.Snapshot(setup.Model);
        try
        {
            BalanceContinuation.Run Continue(double lr, int batch, long stream)
            {
                setup.Model.SetEffectiveParameters(start);
                var steps = (int)Math.Round(Total / lr);
                return BalanceContinuation.Steps(setup, lr, batch, steps, Math.Max(1, steps / 8), stream);
            }
            var slow = Continue(0.05, full, 1);
            var fast = Continue(0.4, full, 2);
            var noisy = Continue(0.05, 16, 3);

            static double Change(BalanceContinuation.Run r) => (r.Series[^1].Unit - r.Series[0].Unit) / r.Series[0].Unit;
            static string F(double v, string f) => v.ToString(f, CultureInfo.InvariantCulture);
            string Line(string name, BalanceContinuation.Run r) =>
                $"{name}: unit {F(r.Series[0].Unit, "F4")} → {F(r.Series[^1].Unit, "F4")} ({F(100 * Change(r), "F2")} %), " +
                $"loss {F(r.Series[0].Loss, "F4")} → {F(r.Series[^1].Loss, "F4")}, entropic rate {F(r.EntropicRate, "E2")}, " +
                $"orbit shift {F(r.Series[^1].OrbitShift, "E2")}, rate {F(r.Rate().rate, "F4")}";
            var msg = string.Join("\n", Line("pretrain", pre), Line("lr 0.05 full", slow), Line("lr 0.4 full", fast), Line("lr 0.05 batch 16", noisy));
            output.WriteLine(msg);

            // The entropic term's own predicted balancing rate (lr · mean_i 2|g_in,i² − g_out,i²| / P_i / mean_i |ln r_i|, per
            // unit lr·steps) is tiny near convergence: measured ≤ 7e-7 at lr 0.4 on these seeds (README, width 32 after 2000
            // steps: ≤ 1e-7). From the initialisation it is ~1e-3, so skipping the pretraining fails this.
            foreach (var r in new[] { slow, fast }) Assert.True(r.EntropicRate < 1e-4, $"entropic rate {r.EntropicRate:E2} at lr {r.Lr}\n{msg}");
            // Full-batch GD at either lr moves the per-unit imbalance by under 2 % over lr·steps = 8 (measured |change| ≤ 0.4 %;
            // README: ≤ 3.5 % over lr·steps = 20), where the pretraining had lowered it by 40–60 %.
            foreach (var r in new[] { slow, fast }) Assert.True(Math.Abs(Change(r)) < 0.02, $"full-batch change at lr {r.Lr}: {Change(r):P2}\n{msg}");
            // Gradient noise does not balance r (measured on the full-batch gradient): batch 16 at the same lr and steps ends
            // more unbalanced than full batch, by a margin (measured ×1.47–1.61; README, width 32: ×1.7–2.8 at lr 0.1).
            Assert.True(noisy.Series[^1].Unit > 1.2 * slow.Series[^1].Unit, $"batch 16 ends at {noisy.Series[^1].Unit:F4}, full batch at {slow.Series[^1].Unit:F4}\n{msg}");
        }
        finally { BalanceContinuation.Dispose(start); }
    }
}
