using System.Diagnostics;

namespace SymDsl.Bench;

/// <summary>
/// Times two step functions of one process against each other: warm-up, then ABBA blocks of windows (a window = a few
/// consecutive steps of one side, timed as a whole) until the 95 % interval of the median pair ratio is narrow enough or
/// the budget is spent (see <see cref="PairedRatio"/> and <see cref="StopRule"/>).
/// </summary>
public static class StepTimer
{
    /// <summary><see cref="Ratio"/>: wall-clock windows (the result); <see cref="Cpu"/>: the same windows in process CPU time.</summary>
    public sealed record Comparison(string Name, PairedRatio Ratio, PairedRatio Cpu, string StoppedBy, double Seconds);

    /// <summary>
    /// <paramref name="windowSteps"/> steps per window: enough that a window lasts well above the timer's and the
    /// scheduler's granularity (a few milliseconds), few enough that many blocks fit in the budget.
    /// </summary>
    public static Comparison Compare(string name, Action stepA, Action stepB, StopRule stop, int windowSteps = 1, int warmup = 20)
    {
        for (int i = 0; i < warmup; i++) { stepA(); stepB(); }
        var ratio = new PairedRatio(windowSteps);
        var cpu = new PairedRatio(windowSteps);
        var clock = Stopwatch.StartNew();
        string? why;
        do
        {
            var (a1, ca1) = Window(stepA, windowSteps);
            var (b1, cb1) = Window(stepB, windowSteps);
            var (b2, cb2) = Window(stepB, windowSteps);
            var (a2, ca2) = Window(stepA, windowSteps);
            ratio.Add(a1, b1, b2, a2);
            cpu.Add(ca1, cb1, cb2, ca2);
        } while ((why = stop.Check(ratio, clock.Elapsed.TotalSeconds)) is null);
        return new Comparison(name, ratio, cpu, why, clock.Elapsed.TotalSeconds);
    }

    static (double Wall, double Cpu) Window(Action step, int n)
    {
        double c0 = CpuClock.Seconds();
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < n; i++) step();
        return (Stopwatch.GetElapsedTime(t0).TotalSeconds, CpuClock.Seconds() - c0);
    }

    /// <summary>The median of <paramref name="samples"/> single timed calls after a warm-up, in seconds.</summary>
    public static double MedianSeconds(Action step, int warmup = 20, int samples = 200)
    {
        for (int i = 0; i < warmup; i++) step();
        var list = new List<double>();
        for (int i = 0; i < samples; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step();
            list.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return Median(list);
    }

    public static double Median(IReadOnlyList<double> xs) => Stats.Median(xs);
}
