namespace SymDsl.Torch.Measures;

/// <summary>Which rule <see cref="Events.Detect"/> applies.</summary>
public enum EventRule
{
    /// <summary>
    /// For integer-like order parameters (a rounded rank, a count of collapsed units): level L_t = round(v_t / Quantum)·Quantum.
    /// The level starts at the first sample's; a change to a new level is an event once the new level has held for
    /// <see cref="EventOptions.Persistence"/> consecutive samples (so a one-sample blip is ignored). The event's step is the
    /// first sample at the new level, From the previous confirmed level, To the new one (a jump of several quanta is one event).
    /// Changes in the last Persistence−1 samples are not confirmed.
    /// </summary>
    Level,
    /// <summary>
    /// For continuous values: with d_t = v_t − v_{t−1}, sample t is flagged when |d_t| &gt; JumpFactor · m and |d_t| &gt; MinJump,
    /// m = median |d| over the last <see cref="EventOptions.Window"/> unflagged differences (needs at least 2 of them; flat
    /// history gives m = 0, so any change above MinJump flags). Consecutive flagged samples moving in the same direction
    /// merge into one event: step of the first, From = the value before it, To = the value at the last.
    /// </summary>
    Jump,
}

/// <summary>Options of <see cref="Events.Detect"/> (see <see cref="EventRule"/>).</summary>
public sealed record EventOptions(EventRule Rule = EventRule.Level, double Quantum = 1.0, int Persistence = 3, int Window = 10,
    double JumpFactor = 6.0, double MinJump = 0.0)
{
    public static readonly EventOptions Default = new();
}

/// <summary>An abrupt change of an order parameter.</summary>
public sealed record OrderEvent(long Step, string Metric, double From, double To);

/// <summary>
/// Steps where an order parameter changes abruptly (science.md "Events"; the staircase of hierarchical learning,
/// Saxe, McClelland &amp; Ganguli 2014), listed in order of step.
/// </summary>
public static class Events
{
    /// <summary>Detect events in <paramref name="series"/> (sorted by step here; NaN values skipped) per <paramref name="options"/>.</summary>
    public static IReadOnlyList<OrderEvent> Detect(IReadOnlyList<(long step, double value)> series, string metric, EventOptions? options = null)
    {
        var o = options ?? EventOptions.Default;
        var s = series.Where(p => !double.IsNaN(p.value)).OrderBy(p => p.step).ToList();
        return o.Rule switch
        {
            EventRule.Level => DetectLevel(s, metric, o),
            EventRule.Jump => DetectJump(s, metric, o),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
    }

    private static List<OrderEvent> DetectLevel(List<(long step, double value)> s, string metric, EventOptions o)
    {
        if (o.Quantum <= 0) throw new ArgumentOutOfRangeException(nameof(o.Quantum));
        int k = Math.Max(1, o.Persistence);
        var events = new List<OrderEvent>();
        if (s.Count == 0) return events;
        double Level(double v) => Math.Round(v / o.Quantum, MidpointRounding.AwayFromZero) * o.Quantum;
        double current = Level(s[0].value);
        int t = 1;
        while (t < s.Count)
        {
            double cand = Level(s[t].value);
            if (cand == current) { t++; continue; }
            int run = 1;
            while (run < k && t + run < s.Count && Level(s[t + run].value) == cand) run++;
            if (run >= k)
            {
                events.Add(new OrderEvent(s[t].step, metric, current, cand));
                current = cand;
                t += run;
            }
            else t += run; // interrupted (or series ended): the sample that broke the run is examined next
        }
        return events;
    }

    private static List<OrderEvent> DetectJump(List<(long step, double value)> s, string metric, EventOptions o)
    {
        var events = new List<OrderEvent>();
        var history = new List<double>();
        int? start = null; // index of the first flagged sample of the current run
        int lastFlag = -1;
        void Close()
        {
            if (start is int a)
                events.Add(new OrderEvent(s[a].step, metric, s[a - 1].value, s[lastFlag].value));
            start = null;
        }
        for (int t = 1; t < s.Count; t++)
        {
            double d = s[t].value - s[t - 1].value;
            bool flagged = false;
            if (history.Count >= 2)
            {
                double m = TensorMath.Median(history.Skip(Math.Max(0, history.Count - o.Window)));
                flagged = Math.Abs(d) > o.JumpFactor * m && Math.Abs(d) > o.MinJump;
            }
            if (flagged)
            {
                bool sameRun = start is not null && lastFlag == t - 1 && Math.Sign(d) == Math.Sign(s[lastFlag].value - s[lastFlag - 1].value);
                if (!sameRun) { Close(); start = t; }
                lastFlag = t;
            }
            else
            {
                Close();
                history.Add(Math.Abs(d));
            }
        }
        Close();
        return events;
    }
}

/// <summary>One "mode k learned" event of <see cref="ModeEvents.Detect"/>.</summary>
/// <param name="Mode">1-based index of the singular value (1 = strongest at the end).</param>
/// <param name="Step">The first sample step at which the mode's singular value is at or above half its final value and stays there.</param>
/// <param name="From">The value at the sample before (below half).</param>
/// <param name="To">The value at <paramref name="Step"/>.</param>
/// <param name="Final">The final (last sample's) value.</param>
public sealed record ModeEvent(int Mode, long Step, double From, double To, double Final);

/// <summary>
/// Stepwise learning mode by mode (Saxe, McClelland &amp; Ganguli 2014): from the series of singular values s₁ ≥ s₂ ≥ … of a
/// map or representation, the step at which each learned mode rises to half its final value.
/// <para>
/// Rule. F_k = the last sample of s_k. The <b>numerical rank</b> r = #{k : F_k &gt; <see cref="RankThreshold"/>·F₁}
/// (threshold 0.05: the weakest target modes of interest are ≥ 1/8 of the strongest, while modes that are not in the target
/// stay at the level of the initialisation or of the data noise, far below 5 % — see examples/stepwise-deep-linear).
/// For each k ≤ r, the event step is the sample after the <i>last</i> sample with s_k &lt; F_k/2 — the rise that stays
/// (a mode that dips after initialisation and recovers, or crosses twice through noise, counts once, at its final rise).
/// A mode that never was below half its final value (large initialisation) has no rise and no event. Events are listed by
/// mode; learned strongest first means their steps are non-decreasing in k.
/// </para>
/// </summary>
public static class ModeEvents
{
    /// <summary>Relative threshold of the numerical rank: modes with final value &gt; 0.05 · the strongest final value count.</summary>
    public const double RankThreshold = 0.05;

    /// <summary>Numerical rank of singular values <paramref name="s"/>: #{k : s_k &gt; threshold · max s}; 0 for an all-zero list.</summary>
    public static int NumericalRank(IReadOnlyList<double> s, double threshold = RankThreshold) => Rank.NumericalFromSingularValues(s, threshold);

    /// <summary>
    /// Events for <paramref name="modes"/>[k−1] = the series of s_k (each sorted by step here, NaN skipped); see the class rule.
    /// </summary>
    public static IReadOnlyList<ModeEvent> Detect(IReadOnlyList<IReadOnlyList<(long step, double value)>> modes, double threshold = RankThreshold)
    {
        var series = modes.Select(m => m.Where(p => !double.IsNaN(p.value)).OrderBy(p => p.step).ToList()).ToList();
        var finals = series.Select(s => s.Count == 0 ? 0.0 : s[^1].value).ToList();
        int r = NumericalRank(finals, threshold);
        var events = new List<ModeEvent>();
        var ranked = Enumerable.Range(0, finals.Count).OrderByDescending(k => finals[k]).Take(r).OrderBy(k => k);
        foreach (int k in ranked)
        {
            var s = series[k];
            double half = finals[k] / 2;
            int last = s.FindLastIndex(p => p.value < half);
            if (last < 0 || last + 1 >= s.Count) continue; // never below half: no rise
            events.Add(new ModeEvent(k + 1, s[last + 1].step, s[last].value, s[last + 1].value, finals[k]));
        }
        return events;
    }
}
