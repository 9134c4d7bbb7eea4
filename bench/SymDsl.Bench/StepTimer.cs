using System.Diagnostics;

namespace SymDsl.Bench;

/// <summary>
/// Times two step functions side by side: warm-up, then rounds of interleaved steps (A B B A …, so neither side
/// systematically runs right after the other), each step timed on its own. Medians of the per-step samples make the
/// ratio robust to the other core's noise; interleaving step by step (rather than in blocks) keeps a burst of load
/// from landing on one side only.
/// </summary>
public static class StepTimer
{
    public sealed record Comparison(string Name, double MedianA, double MedianB, int Samples)
    {
        /// <summary>A over B: how much slower A is than B (1.0 = the same).</summary>
        public double Ratio => MedianA / MedianB;
    }

    public static Comparison Compare(string name, Action stepA, Action stepB, int warmup = 30, int rounds = 12, int stepsPerRound = 25)
    {
        for (int i = 0; i < warmup; i++) { stepA(); stepB(); }
        var a = new List<double>();
        var b = new List<double>();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < stepsPerRound; i++)
            {
                bool aFirst = (r * stepsPerRound + i) % 2 == 0;
                Run(aFirst ? stepA : stepB, aFirst ? a : b, 1);
                Run(aFirst ? stepB : stepA, aFirst ? b : a, 1);
            }
        return new Comparison(name, Median(a), Median(b), a.Count);
    }

    public static double MedianSeconds(Action step, int warmup = 20, int samples = 200)
    {
        for (int i = 0; i < warmup; i++) step();
        var list = new List<double>();
        Run(step, list, samples);
        return Median(list);
    }

    static void Run(Action step, List<double> into, int n)
    {
        for (int i = 0; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step();
            into.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
    }

    public static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
