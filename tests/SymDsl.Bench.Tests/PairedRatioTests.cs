using System.Numerics;
using SymDsl.Bench;

namespace SymDsl.Bench.Tests;

public class PairedRatioTests
{
    // The 95 % order-statistic interval of the median: published ranks (e.g. Conover, Practical Nonparametric Statistics,
    // table A3; n = 100 → x(40) … x(61)), and none below 6 samples.
    [Theory]
    [InlineData(5, 0)]
    [InlineData(6, 1)]
    [InlineData(10, 2)]
    [InlineData(20, 6)]
    [InlineData(50, 18)]
    [InlineData(100, 40)]
    public void MedianIntervalRanksAreTheTabulatedOnes(int n, int k) => Assert.Equal(k, Stats.MedianIntervalRank(n));

    [Fact]
    public void MedianIntervalRankIsTheWidestReachingTheLevelComputedExactly()
    {
        // Independent computation in exact integers: coverage(k) = 1 − 2·Σ_{j<k} C(n, j) / 2ⁿ.
        foreach (int n in Enumerable.Range(1, 300))
        {
            int k = Stats.MedianIntervalRank(n);
            Assert.True(k == 0 || Coverage(n, k) >= 0.95, $"n={n}, k={k}: coverage {Coverage(n, k)}");
            if (k + 1 <= (n + 1) / 2) Assert.True(Coverage(n, k + 1) < 0.95, $"n={n}: k+1={k + 1} also reaches the level");
        }
    }

    static double Coverage(int n, int k)
    {
        BigInteger tail = 0, c = 1;
        for (int j = 0; j < k; j++) { tail += c; c = c * (n - j) / (j + 1); }
        return 1 - 2 * (double)(tail * 1_000_000_000_000 / BigInteger.Pow(2, n)) / 1e12;
    }

    [Fact]
    public void IntervalIsTheKthSmallestAndLargest()
    {
        var xs = Enumerable.Range(1, 20).Select(i => (double)i).Reverse().ToList();
        Assert.Equal((6.0, 15.0), Stats.MedianInterval(xs));
        Assert.Equal(10.5, Stats.Median(xs));
        Assert.True(double.IsNaN(Stats.MedianInterval([1.0, 2, 3]).Low));
    }

    [Fact]
    public void AbbaBlocksCancelLinearDrift()
    {
        // A takes twice B's time; the machine slows down steadily by 5 % per window. Adjacent A/B windows would read
        // 2/1.05 or 2.1 depending on order; the ABBA block reads exactly 2.
        var r = new PairedRatio(windowSteps: 10);
        double t = 0;
        for (int block = 0; block < 50; block++)
        {
            double Slow(double x) => x * (1 + 0.05 * t++);
            double a1 = Slow(2), b1 = Slow(1), b2 = Slow(1), a2 = Slow(2);
            r.Add(a1, b1, b2, a2);
        }
        Assert.All(r.Ratios, x => Assert.Equal(2.0, x, 12));
        Assert.Equal(2.0, r.Median, 12);
        Assert.Equal(0.0, r.RelativeHalfWidth, 12);
        Assert.Equal(50, r.Pairs);
    }

    [Fact]
    public void PerStepTimesAreWindowMediansOverTheWindowLength()
    {
        var r = new PairedRatio(windowSteps: 4);
        r.Add(0.008, 0.004, 0.004, 0.008);
        Assert.Equal(2.0, r.StepMsA, 12);
        Assert.Equal(1.0, r.StepMsB, 12);
    }

    [Fact]
    public void SessionsPoolTheirPairs()
    {
        var first = new PairedRatio(windowSteps: 10);
        var second = new PairedRatio(windowSteps: 10);
        for (int i = 0; i < 5; i++) first.Add(0.011, 0.010, 0.010, 0.011); // 1.1
        for (int i = 0; i < 4; i++) second.Add(0.013, 0.010, 0.010, 0.013); // 1.3
        first.AddAll(second);
        Assert.Equal(9, first.Pairs);
        Assert.Equal(1.1, first.Median, 12);
        Assert.Equal(1.1, first.StepMsA, 12); // the median window of A: 5 × 2 at 11 ms, 4 × 2 at 13 ms
        Assert.Throws<ArgumentException>(() => first.AddAll(new PairedRatio(windowSteps: 5)));
    }

    [Fact]
    public void SessionRatioIsTheMedianOverSessionsWithItsInterval()
    {
        // Seven sessions whose own medians are 1.00 … 1.06: the estimate is their median, 1.03, and with 7 sessions the
        // 95 % interval is the 1st smallest and largest (k = 1), whatever the number of pairs inside each session.
        var m = new SessionRatio(windowSteps: 10);
        for (int i = 0; i < 7; i++)
        {
            var wall = new PairedRatio(10);
            var cpu = new PairedRatio(10);
            for (int p = 0; p < 50 * (i + 1); p++) { wall.Add(0.01 * (1 + 0.01 * i), 0.01, 0.01, 0.01 * (1 + 0.01 * i)); cpu.Add(0.02, 0.01, 0.01, 0.02); }
            m.Add(wall, cpu);
        }
        Assert.Equal(7, m.Sessions);
        Assert.Equal(1.03, m.Median, 12);
        Assert.Equal((1.00, 1.06), (Math.Round(m.Interval.Low, 12), Math.Round(m.Interval.High, 12)));
        Assert.Equal(2.0, m.CpuMedian, 12);
        Assert.Equal(50 * 28, m.Pooled.Pairs);
        Assert.True(m.Pooled.Median > m.Median); // the pooled median leans to the long sessions (here 1.05)
    }

    [Fact]
    public void SessionStopRuleNeedsSixSessionsThenTheIntervalOrTheBudget()
    {
        var rule = new StopRule(MinPairs: 20, MaxPairs: 100_000, TargetHalfWidth: 0.01, BudgetSeconds: 40);
        Assert.Null(SessionRatio.Stop(5, 0.001, 50, rule, minSessions: 6)); // too few sessions, even past the budget
        Assert.Equal("budget", SessionRatio.Stop(5, double.PositiveInfinity, 80, rule, minSessions: 6)); // the hard cap
        Assert.Equal("interval", SessionRatio.Stop(6, 0.009, 10, rule, minSessions: 6));
        Assert.Null(SessionRatio.Stop(6, 0.02, 39, rule, minSessions: 6));
        Assert.Equal("budget", SessionRatio.Stop(9, 0.02, 40, rule, minSessions: 6));
    }

    [Fact]
    public void StopRuleStopsOnTheIntervalThePairsOrTheBudget()
    {
        var rule = new StopRule(MinPairs: 6, MaxPairs: 40, TargetHalfWidth: 0.01, BudgetSeconds: 10);
        var tight = new PairedRatio(1);
        for (int i = 0; i < 6; i++) tight.Add(1.0, 1.0, 1.0, 1.0 + 0.001 * i);
        Assert.Equal("interval", rule.Check(tight, 0));

        var loose = new PairedRatio(1);
        for (int i = 0; i < 6; i++) loose.Add(1.0, 1.0, 1.0, 1.0 + 0.5 * i);
        Assert.Null(rule.Check(loose, 1));
        Assert.Equal("budget", rule.Check(loose, 10));
        for (int i = 6; i < 40; i++) loose.Add(1.0, 1.0, 1.0, 1.0 + 0.5 * (i % 6));
        Assert.Equal("pairs", rule.Check(loose, 1));

        var few = new PairedRatio(1);
        few.Add(1, 1, 1, 1);
        Assert.Null(rule.Check(few, 15)); // below MinPairs: only the hard cap (twice the budget) stops it
        Assert.Equal("budget", rule.Check(few, 20));
    }
}
