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
