namespace SymDsl.Bench;

/// <summary>
/// The ratio of two timed sides (A over B: how much slower A is; 1.0 = the same) estimated from paired samples.
/// Each pair is one ABBA block: a window of A, a window of B, another of B, another of A, run back to back; its ratio is
/// (A₁ + A₂) / (B₁ + B₂). Load that drifts linearly over the block cancels (A's windows sit on both ends, B's in the
/// middle), and a burst of load spoils one pair, not the estimate. The estimate is the median of the pair ratios, with a
/// distribution-free 95 % confidence interval of that median from order statistics (the ranks l, u with
/// P(l ≤ Binomial(n, ½) &lt; u) ≥ 0.95; no assumption on the ratios' distribution).
/// </summary>
public sealed class PairedRatio
{
    readonly List<double> _ratios = new();
    readonly List<double> _a = new();
    readonly List<double> _b = new();

    /// <summary>Window length in steps (A's and B's per-step times are window seconds over this).</summary>
    public int WindowSteps { get; }

    public PairedRatio(int windowSteps) => WindowSteps = windowSteps;

    public int Pairs => _ratios.Count;
    public IReadOnlyList<double> Ratios => _ratios;

    /// <summary>Adds one ABBA block: A's two windows and B's two windows, in seconds.</summary>
    public void Add(double a1, double b1, double b2, double a2)
    {
        _ratios.Add((a1 + a2) / (b1 + b2));
        _a.Add(a1); _a.Add(a2);
        _b.Add(b1); _b.Add(b2);
    }

    /// <summary>Adds every pair of <paramref name="other"/> (another session of the same measurement, same window length).</summary>
    public void AddAll(PairedRatio other)
    {
        if (other.WindowSteps != WindowSteps) throw new ArgumentException($"window of {other.WindowSteps} steps, expected {WindowSteps}");
        _ratios.AddRange(other._ratios);
        _a.AddRange(other._a);
        _b.AddRange(other._b);
    }

    public double Median => Stats.Median(_ratios);

    /// <summary>The 95 % interval of the median ratio (NaN when there are fewer than 6 pairs: no such interval exists).</summary>
    public (double Low, double High) Interval => Stats.MedianInterval(_ratios);

    /// <summary>The interval's larger half-width relative to the median (e.g. 0.01 = ±1 %).</summary>
    public double RelativeHalfWidth => Stats.RelativeHalfWidth(_ratios);

    /// <summary>The median of A's (B's) windows per step, in milliseconds.</summary>
    public double StepMsA => Stats.Median(_a) / WindowSteps * 1e3;
    public double StepMsB => Stats.Median(_b) / WindowSteps * 1e3;
}

/// <summary>When a paired measurement stops: once the interval is narrow enough, or when a budget is spent.</summary>
public sealed record StopRule(int MinPairs, int MaxPairs, double TargetHalfWidth, double BudgetSeconds)
{
    /// <summary>Why to stop now (null: go on). Checked after each pair.</summary>
    public string? Check(PairedRatio r, double elapsedSeconds)
    {
        if (r.Pairs < MinPairs) return elapsedSeconds >= 2 * BudgetSeconds ? "budget" : null; // a hard cap, even below MinPairs
        if (r.RelativeHalfWidth <= TargetHalfWidth) return "interval";
        if (r.Pairs >= MaxPairs) return "pairs";
        if (elapsedSeconds >= BudgetSeconds) return "budget";
        return null;
    }
}

public static class Stats
{
    public static double Median(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    /// <summary>The larger half-width of <see cref="MedianInterval"/> relative to the median; infinite when there is no interval.</summary>
    public static double RelativeHalfWidth(IReadOnlyList<double> xs)
    {
        var (lo, hi) = MedianInterval(xs);
        double m = Median(xs);
        return double.IsNaN(lo) ? double.PositiveInfinity : Math.Max(m - lo, hi - m) / m;
    }

    /// <summary>
    /// The distribution-free confidence interval of the median: the k-th smallest and k-th largest values, with k the
    /// largest rank such that P(k ≤ Binomial(n, ½) ≤ n − k) ≥ <paramref name="level"/>. (NaN, NaN) when n is too small.
    /// </summary>
    public static (double Low, double High) MedianInterval(IReadOnlyList<double> xs, double level = 0.95)
    {
        int k = MedianIntervalRank(xs.Count, level);
        if (k < 1) return (double.NaN, double.NaN);
        var s = xs.OrderBy(x => x).ToArray();
        return (s[k - 1], s[s.Length - k]);
    }

    /// <summary>The rank k (1-based) of the interval's lower end for n samples; 0 when no interval reaches the level.</summary>
    public static int MedianIntervalRank(int n, double level = 0.95)
    {
        // Coverage of [x(k), x(n−k+1)] is 1 − 2·P(Binomial(n, ½) ≤ k − 1). Lower tail summed in log space (n may be large).
        double tail = 0;
        int best = 0;
        double logHalfN = n * Math.Log(0.5);
        double logC = 0; // log C(n, j)
        for (int j = 0; j <= n / 2; j++)
        {
            if (j > 0) logC += Math.Log(n - j + 1) - Math.Log(j);
            tail += Math.Exp(logC + logHalfN); // P(X ≤ j)
            // Interval with k = j + 1: coverage 1 − 2·P(X ≤ j).
            if (1 - 2 * tail >= level) best = j + 1;
            else break;
        }
        return best;
    }
}
