using SymDsl.Torch.Measures;

namespace SymDsl.Torch.Tests.Measures;

/// <summary>The per-mode rule (ModeEvents) on synthetic singular-value series whose answer is known.</summary>
public class ModeEventsTests
{
    /// <summary>A sigmoid rise from <paramref name="u0"/> to <paramref name="s"/> with half-time <paramref name="tHalf"/>, sampled every 5 steps.</summary>
    static List<(long, double)> Sigmoid(double s, double tHalf, double width, double u0 = 1e-4, long steps = 400) =>
        Enumerable.Range(0, (int)(steps / 5) + 1).Select(i => (long)(i * 5))
            .Select(t => (t, u0 + (s - u0) / (1 + Math.Exp(-(t - tHalf) / width)))).ToList();

    [Fact]
    public void Four_modes_of_a_geometric_spectrum_give_four_events_strongest_first_at_their_half_times()
    {
        double[] s = [1, 0.5, 0.25, 0.125];
        double[] half = [52, 101, 198, 303];
        var modes = s.Select((v, i) => (IReadOnlyList<(long, double)>)Sigmoid(v, half[i], 8)).ToList();
        modes.Add(Sigmoid(0.001, 50, 8)); // a mode outside the target: 0.1 % of s1, below the 0.05 threshold
        var ev = ModeEvents.Detect(modes);
        Assert.Equal([1, 2, 3, 4], ev.Select(e => e.Mode));
        // first 5-step sample at or after the exact half-time (the sigmoid plus u0 is half of final a hair before tHalf)
        Assert.Equal([55L, 105, 200, 305], ev.Select(e => e.Step));
        Assert.All(ev, e => Assert.True(e.From < e.Final / 2 && e.To >= e.Final / 2));
        Assert.Equal(4, ModeEvents.NumericalRank(modes.Select(m => m[^1].Item2).ToList()));
    }

    [Fact]
    public void A_dip_after_initialisation_counts_once_at_the_final_rise_and_a_mode_that_never_rose_has_no_event()
    {
        // mode 1 starts at its final value (no rise); mode 2 starts at 0.4, dips to 0.01, rises to 0.5 at step 30
        var m1 = new List<(long, double)> { (0, 1.0), (10, 1.0), (20, 1.0), (30, 1.0), (40, 1.0) };
        var m2 = new List<(long, double)> { (0, 0.4), (10, 0.01), (20, 0.2), (30, 0.3), (40, 0.5) };
        var ev = ModeEvents.Detect([m1, m2]);
        var e = Assert.Single(ev);
        Assert.Equal(2, e.Mode);
        Assert.Equal(30, e.Step);
        Assert.Equal(0.2, e.From);
    }

    [Fact]
    public void Numerical_rank_counts_values_above_five_percent_of_the_largest()
    {
        Assert.Equal(2, ModeEvents.NumericalRank([2.0, 0.11, 0.1, 0.0]));
        Assert.Equal(0, ModeEvents.NumericalRank([0.0, 0.0]));
        Assert.Equal(0, ModeEvents.NumericalRank([]));
        Assert.Empty(ModeEvents.Detect([]));
    }
}
