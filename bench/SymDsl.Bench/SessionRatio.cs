namespace SymDsl.Bench;

/// <summary>
/// A trainer-level ratio measured in independent sessions: each session is one interleaved comparison (InterleavedRuns.Compare)
/// of two fresh runs (fresh tensors, fresh threads) for a few seconds, and yields its own median of ABBA pair ratios.
/// The estimate is the <b>median of the session medians</b>, its 95 % interval the order-statistic interval of that
/// median over the sessions (<see cref="Stats.MedianInterval"/>).
/// <para>
/// Why sessions: what stays fixed for the length of one pair of runs — where the allocator put each run's tensors (their
/// alignment against each other and against the cache), which core each thread got — moves one run's speed against the
/// other's by several per cent, the same way for all its pairs. Within one long session that is invisible (the pairs'
/// interval is narrow) and two bench runs disagree beyond their intervals. Sampled over many sessions it becomes part of
/// the interval, which is then honest about it, and the median over sessions averages it out.
/// </para>
/// </summary>
public sealed class SessionRatio(int windowSteps)
{
    readonly List<double> _medians = new();
    readonly List<double> _cpuMedians = new();

    /// <summary>Every session's pairs together (per-step times, pair counts).</summary>
    public PairedRatio Pooled { get; } = new(windowSteps);
    public PairedRatio PooledCpu { get; } = new(windowSteps);

    public IReadOnlyList<double> Medians => _medians;
    public IReadOnlyList<double> CpuMedians => _cpuMedians;
    public int Sessions => _medians.Count;
    public double Median => Stats.Median(_medians);
    public (double Low, double High) Interval => Stats.MedianInterval(_medians);
    public double CpuMedian => Stats.Median(_cpuMedians);
    public (double Low, double High) CpuInterval => Stats.MedianInterval(_cpuMedians);

    /// <summary>The interval's larger half-width relative to the median (infinite below 6 sessions: no interval yet).</summary>
    public double RelativeHalfWidth => Stats.RelativeHalfWidth(_medians);

    /// <summary>Adds one session's result.</summary>
    public void Add(PairedRatio wall, PairedRatio cpu)
    {
        _medians.Add(wall.Median);
        _cpuMedians.Add(cpu.Median);
        Pooled.AddAll(wall);
        PooledCpu.AddAll(cpu);
    }

    /// <summary>The stop rule over sessions (null: run another).</summary>
    public static string? Stop(int sessions, double relativeHalfWidth, double elapsedSeconds, StopRule rule, int minSessions)
    {
        if (elapsedSeconds >= 2 * rule.BudgetSeconds) return "budget";
        if (sessions < minSessions) return null;
        if (relativeHalfWidth <= rule.TargetHalfWidth) return "interval";
        return elapsedSeconds >= rule.BudgetSeconds ? "budget" : null;
    }
}
