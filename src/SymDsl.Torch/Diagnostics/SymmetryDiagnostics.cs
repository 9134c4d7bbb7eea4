using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Diagnostics.Metrics;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Runtime;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Torch.Diagnostics;

/// <summary>Which gradient the balance metrics (.grad_ratio, .grad_imbalance) use.</summary>
public enum GradientSource
{
    /// <summary>
    /// The mini-batch gradient of the optimizer step just taken (the trainable tensors' .grad after the step: the loss gradient
    /// alone, TorchSharp's optimizers add weight decay and momentum out of place). Free. Falls back to <see cref="Probe"/> when
    /// a parameter has no such gradient (before the first step, or reparametrised by induce).
    /// </summary>
    Step,
    /// <summary>A fresh gradient of the mean loss on the fixed probe batch w.r.t. the effective parameters (one forward and backward pass).</summary>
    Probe,
}

/// <summary>Where the metrics are computed.</summary>
public enum DiagnosticsMode
{
    /// <summary>In <see cref="ITrainingObserver.OnStep"/>, on the training thread: the step's metrics hold the values.</summary>
    Inline,
    /// <summary>
    /// At a due step only a snapshot is taken on the training thread (the effective parameters and the step's gradients in
    /// float64, the buffers); the metrics are computed from it on a background worker (one evaluation at a time, in step
    /// order) while training goes on, and the step's metrics get a <see cref="DeferredMetrics"/>. The values are bit-identical
    /// to <see cref="Inline"/>'s.
    /// </summary>
    Background,
}

/// <summary>Options of <see cref="SymmetryDiagnostics"/>.</summary>
public sealed record DiagnosticsOptions(GradientSource Gradients = GradientSource.Step, DiagnosticsMode Mode = DiagnosticsMode.Inline)
{
    public static readonly DiagnosticsOptions Default = new();
}

/// <summary>
/// The observer generated from a train block's <c>diagnose</c> clauses (docs/diagnostics.md). At step 1 and at every
/// step that is a multiple of a metric's <see cref="DiagnoseIR.Every"/>, it measures that metric on the effective
/// parameters and on the run's fixed probe batch and adds <c>KEY</c> (the headline) and <c>KEY.sub</c> numbers to the
/// step's metrics (metrics.jsonl). At the end it turns the series of integer-valued order parameters (collapse and
/// duplicate counts, effective ranks rounded) into <see cref="TrainEvent"/>s.
/// <para>
/// Each metric is one <see cref="MetricRuntime"/> class (Diagnostics/Metrics, found by reflection); what the due metrics
/// share (the float64 parameter snapshot, one shadow forward/backward pass on the probe batch, the unit norms) is done once
/// per evaluation by the <see cref="ProbeEvaluator"/>. With <see cref="DiagnosticsMode.Background"/> the evaluation runs on a
/// worker thread (<see cref="DeferredMetrics"/>).
/// </para>
/// </summary>
public sealed class SymmetryDiagnostics : ITrainingObserver, IDisposable
{
    /// <summary>The key of the step's metrics under which background mode puts its <see cref="DeferredMetrics"/>.</summary>
    public const string DeferredKey = "diagnostics";
    /// <summary>Background mode: at most this many evaluations wait or run; a due step beyond that waits for the oldest.</summary>
    const int MaxPending = 3;

    readonly IReadOnlyList<MetricRuntime> _metrics;
    readonly ProbeEvaluator _probe;
    readonly DiagnosticsOptions _options;
    readonly Dictionary<string, List<(long step, double value)>> _series = new();
    readonly object _accounts = new();
    readonly Queue<Task> _pending = new();
    readonly SerialWorker _worker = new("symc diagnostics"); // background mode's evaluations, one at a time in step order
    ExceptionDispatchInfo? _failure;
    bool _disposed;

    /// <summary>The metrics measured, in the order of the train block.</summary>
    public IReadOnlyList<DiagnoseIR> Metrics => _metrics.Select(m => m.D).ToList();

    double _seconds, _foregroundSeconds;
    /// <summary>Wall time spent measuring (the snapshot and the evaluations, on whichever thread), for cost accounting.</summary>
    public double Seconds { get { lock (_accounts) return _seconds; } }
    /// <summary>Wall time spent on the training thread (in inline mode, <see cref="Seconds"/>; in background mode, the snapshots and any wait for the worker).</summary>
    public double ForegroundSeconds { get { lock (_accounts) return _foregroundSeconds; } }

    /// <summary>
    /// Wall time by metric key, plus "(snapshot)" for the parameters, gradients and buffers taken at the step, "(forward)"
    /// for the shadow pass (site activations and gradients) and, in background mode, "(wait)" for the training thread waiting
    /// for a worker that fell behind (not part of <see cref="Seconds"/>), for cost accounting.
    /// </summary>
    public IReadOnlyDictionary<string, double> SecondsByMetric { get { lock (_accounts) return new Dictionary<string, double>(_secondsBy); } }
    readonly Dictionary<string, double> _secondsBy = new();

    /// <summary>
    /// <see cref="SecondsByMetric"/> in CPU time of the thread that did each part (without "(wait)"): with one torch thread,
    /// the parts' own cost, which other processes' load on the machine does not move (NaN where no thread clock exists).
    /// </summary>
    public IReadOnlyDictionary<string, double> CpuSecondsByMetric { get { lock (_accounts) return new Dictionary<string, double>(_cpuSecondsBy); } }
    readonly Dictionary<string, double> _cpuSecondsBy = new();

    /// <summary>A part's wall and thread CPU time (the caller holds no lock).</summary>
    /// <summary>
    /// The charge function of one evaluation on the calling thread: each call books to a part the wall time on
    /// <paramref name="clock"/> (from its start) and this thread's CPU time since the previous call.
    /// </summary>
    Action<string> Charger(Stopwatch clock)
    {
        var accounted = TimeSpan.Zero;
        double cpuAccounted = ThreadCpuClock.Seconds();
        return what =>
        {
            var now = clock.Elapsed;
            double cpu = ThreadCpuClock.Seconds();
            Account(what, (now - accounted).TotalSeconds, cpu - cpuAccounted);
            accounted = now;
            cpuAccounted = cpu;
        };
    }

    void Account(string what, double wallSeconds, double cpuSeconds)
    {
        lock (_accounts)
        {
            _secondsBy[what] = _secondsBy.GetValueOrDefault(what) + wallSeconds;
            _cpuSecondsBy[what] = _cpuSecondsBy.GetValueOrDefault(what) + cpuSeconds;
        }
    }

    /// <summary>Wall time of each evaluation (each step with a metric due: its snapshot and its measurement), in step order.</summary>
    public IReadOnlyList<double> EvaluationSeconds { get { lock (_accounts) return _evalSeconds.ToList(); } }
    readonly List<double> _evalSeconds = new();

    /// <summary>How many steps had at least one metric due.</summary>
    public int Evaluations { get; private set; }

    /// <summary>
    /// The recorded headline series of the event-producing metrics (collapse, duplicates, rank), by key. In background mode
    /// complete once the run has ended (<see cref="OnEnd"/>).
    /// </summary>
    public IReadOnlyDictionary<string, List<(long step, double value)>> Series => _series;

    SymmetryDiagnostics(ModelIR model, TrainIR train, List<MetricRuntime> metrics, DiagnosticsOptions options)
    {
        _metrics = metrics; _options = options;
        _probe = new ProbeEvaluator(model, train, metrics);
        foreach (var m in metrics.Where(m => m.Definition.EventSeries)) _series[m.Key] = new();
        foreach (var m in metrics)
            foreach (var k in m.ModeSeriesKeys) _series[k] = new();
    }

    /// <summary>
    /// The observer for <paramref name="train"/>'s diagnose clauses, or null when it has none. Throws
    /// <see cref="SymDslException"/> for a metric it cannot measure (unknown metric, missing target, wrong symmetry kind,
    /// alignment at a site without a Linear layer next to it).
    /// </summary>
    public static SymmetryDiagnostics? Create(ModelIR model, TrainIR train) => Create(model, train, DiagnosticsOptions.Default);

    /// <summary><see cref="Create(ModelIR, TrainIR)"/> with explicit <paramref name="options"/>.</summary>
    public static SymmetryDiagnostics? Create(ModelIR model, TrainIR train, DiagnosticsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        if (train.Diagnostics.Count == 0) return null;
        var metrics = new List<MetricRuntime>();
        foreach (var d in train.Diagnostics)
        {
            if (d.Targets.Count != 1) throw new SymDslException($"diagnose {d.Key}: one target expected");
            var target = d.Targets[0];
            var kind = d.TargetKinds.Count > 0 ? d.TargetKinds[0] : "";
            if (d.Every <= 0) throw new SymDslException($"diagnose {d.Key}: every must be positive");
            if (Vocabulary.Metrics.Find(d.Metric) is not { } definition || !MetricRuntimes.Has(d.Metric))
                throw new SymDslException($"diagnose {d.Key}: unknown metric {d.Metric}");
            SymmetryIR Sym()
            {
                var kinds = definition.Kinds ?? Enum.GetValues<SymmetryKind>();
                var s = model.Symmetries.FirstOrDefault(s => s.Name == target)
                    ?? model.Symmetries.FirstOrDefault(s => $"{s.Kind.ToString().ToLowerInvariant()}({s.Target})" == target)
                    ?? throw new SymDslException($"diagnose {d.Key}: model {model.Name} has no symmetry {target}");
                if (!kinds.Contains(s.Kind))
                    throw new SymDslException($"diagnose {d.Key}: {d.Metric} needs a {string.Join(" or ", kinds.Select(k => k.ToString().ToLowerInvariant()))} symmetry, {target} is {s.Kind.ToString().ToLowerInvariant()}");
                return s;
            }
            int SiteNode()
            {
                var n = model.Site(target) ?? throw new SymDslException($"diagnose {d.Key}: model {model.Name} has no site {target}");
                return n.Id;
            }
            metrics.Add(MetricRuntimes.Create(new PlanScope(model, d, target, kind, Sym, SiteNode)));
        }
        return new SymmetryDiagnostics(model, train, metrics, options);
    }

    /// <summary>The metrics with a run-time implementation (a test compares them with the language's).</summary>
    public static IEnumerable<string> Implemented => MetricRuntimes.Names;

    /// <summary>Whether <paramref name="d"/> is measured after step <paramref name="step"/>: step 1 and every multiple of Every.</summary>
    public static bool IsDue(DiagnoseIR d, long step) => step == 1 || (d.Every > 0 && step % d.Every == 0);

    public void OnStart(TrainingContext context)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        WaitPending(rethrow: false); // a previous run of this observer
        _failure = null;
        // A new run (or a resumed one): start the series afresh, from metrics.jsonl after a resume.
        foreach (var list in _series.Values) list.Clear();
        if (context.StartStep > 0) LoadPreviousSeries(context);
        _probe.Start(context);
    }

    void LoadPreviousSeries(TrainingContext context)
    {
        var path = Path.Combine(context.OutDir, "metrics.jsonl");
        if (!File.Exists(path)) return;
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(fs);
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (!root.TryGetProperty("step", out var st) || !st.TryGetInt64(out var step) || step > context.StartStep) continue;
            foreach (var (key, list) in _series)
                if (root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number)
                    list.Add((step, v.GetDouble()));
        }
    }

    /// <summary>.grad is read at a step where a due metric takes the step's gradient (<see cref="GradientSource.Step"/>).</summary>
    public bool ReadsGradients(long step)
    {
        if (_options.Gradients != GradientSource.Step) return false;
        foreach (var m in _metrics)
            if (m.StepGradientParameters is { Count: > 0 } && IsDue(m.D, step)) return true;
        return false;
    }

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        List<MetricRuntime>? due = null; // (no allocation on the steps where nothing is due: most of them)
        foreach (var m in _metrics)
            if (IsDue(m.D, step)) (due ??= new()).Add(m);
        if (due is null) return;
        Evaluations++;
        var clock = Stopwatch.StartNew();
        if (_options.Mode == DiagnosticsMode.Background)
        {
            metrics[DeferredKey] = new DeferredMetrics(Enqueue(context, step, due, clock));
            return;
        }
        var Charge = Charger(clock);
        using (var scope = NewDisposeScope())
        {
            var snapshot = _probe.Snapshot(context, step, due, _options.Gradients, copy: false);
            Charge("(snapshot)");
            foreach (var (key, value) in Record(step, _probe.Evaluate(snapshot, Charge))) metrics[key] = value;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        lock (_accounts) { _seconds += seconds; _foregroundSeconds += seconds; _evalSeconds.Add(seconds); }
    }

    /// <summary>Background mode: the snapshot now, its evaluation queued behind the earlier ones.</summary>
    Task<IReadOnlyList<KeyValuePair<string, object?>>> Enqueue(TrainingContext context, long step, List<MetricRuntime> due, Stopwatch clock)
    {
        // Back-pressure: a worker that falls behind must not pile up snapshots without bound.
        while (_pending.Count >= MaxPending) ((IAsyncResult)_pending.Dequeue()).AsyncWaitHandle.WaitOne();
        var waited = clock.Elapsed;
        double cpuBefore = ThreadCpuClock.Seconds();
        var snapshot = _probe.Snapshot(context, step, due, _options.Gradients, copy: true);
        var foreground = clock.Elapsed - waited;
        double snapshotCpu = ThreadCpuClock.Seconds() - cpuBefore;
        lock (_accounts)
        {
            if (waited > TimeSpan.Zero) _secondsBy["(wait)"] = _secondsBy.GetValueOrDefault("(wait)") + waited.TotalSeconds;
            _secondsBy["(snapshot)"] = _secondsBy.GetValueOrDefault("(snapshot)") + foreground.TotalSeconds;
            _cpuSecondsBy["(snapshot)"] = _cpuSecondsBy.GetValueOrDefault("(snapshot)") + snapshotCpu;
            _foregroundSeconds += (waited + foreground).TotalSeconds;
            _seconds += foreground.TotalSeconds;
        }
        var task = _worker.Post(() => Evaluate(snapshot, foreground));
        _pending.Enqueue(task);
        return task;
    }

    /// <summary>On the worker: measures a snapshot, records its series points, frees it.</summary>
    IReadOnlyList<KeyValuePair<string, object?>> Evaluate(ProbeSnapshot snapshot, TimeSpan foreground)
    {
        try
        {
            // A section that never waits: the training thread may be waiting for this evaluation inside its own section.
            using var native = NativeSection.EnterWithoutWaiting();
            var clock = Stopwatch.StartNew();
            var values = Record(snapshot.Step, _probe.Evaluate(snapshot, Charger(clock)));
            lock (_accounts)
            {
                _seconds += clock.Elapsed.TotalSeconds;
                _evalSeconds.Add((foreground + clock.Elapsed).TotalSeconds);
            }
            return values.Select(v => KeyValuePair.Create(v.Key, (object?)v.Value)).ToList();
        }
        finally
        {
            snapshot.Dispose();
        }
    }

    /// <summary>Adds the values of the event series to <see cref="Series"/> (evaluations come in step order).</summary>
    List<(string Key, double Value)> Record(long step, List<(string Key, double Value)> values)
    {
        foreach (var (key, value) in values)
            if (_series.TryGetValue(key, out var list)) list.Add((step, value));
        return values;
    }

    /// <summary>Waits for every queued evaluation; with <paramref name="rethrow"/>, rethrows the first failure.</summary>
    void WaitPending(bool rethrow)
    {
        while (_pending.Count > 0)
        {
            var t = _pending.Dequeue();
            ((IAsyncResult)t).AsyncWaitHandle.WaitOne();
            if (t.IsFaulted && _failure is null) _failure = ExceptionDispatchInfo.Capture(t.Exception!.InnerExceptions[0]);
        }
        if (rethrow) _failure?.Throw();
    }

    public void OnEnd(TrainingContext context, TrainSummary summary)
    {
        WaitPending(rethrow: false);
        _worker.Stop(); // the run is over: no thread left waiting (the next run starts one)
        _failure?.Throw();
        summary.Values["diagnostics_seconds"] = Seconds;
        summary.Values["diagnostics_evaluations"] = Evaluations;
        summary.Events.AddRange(DetectEvents());
        var ordered = summary.Events.OrderBy(e => e.Step).ToList(); // stable: same-step events keep their order
        summary.Events.Clear();
        summary.Events.AddRange(ordered);
        _probe.Release(); // the run is over: free the shadow model (the series stay readable)
    }

    /// <summary>
    /// Events of the integer-valued headlines (collapse, duplicates): <see cref="Events.Detect"/> with the Level rule
    /// (quantum 1; a new level must hold for 3 consecutive measurements); of rank: <see cref="ModeEvents.Detect"/> on
    /// .sv1 … .sv8 (mode k learned = its rise to half its final value; the event's value is k). In step order.
    /// </summary>
    public IReadOnlyList<TrainEvent> DetectEvents()
    {
        WaitPending(rethrow: true);
        var events = new List<TrainEvent>();
        foreach (var m in _metrics.Where(m => m.ModeSeriesKeys.Any()))
        {
            var modes = m.ModeSeriesKeys.Select(k => (IReadOnlyList<(long, double)>)_series[k]).Where(s => s.Count > 0).ToList();
            foreach (var e in ModeEvents.Detect(modes))
                events.Add(new TrainEvent(e.Step, m.Key,
                    $"{m.Key} mode {e.Mode} learned: sv{e.Mode} {Fmt(e.From)} → {Fmt(e.To)} (half of final {Fmt(e.Final)})", e.Mode));
        }
        foreach (var m in _metrics.Where(m => m.Definition.EventSeries && !m.ModeSeriesKeys.Any()))
            foreach (var e in Events.Detect(_series[m.Key], m.Key))
                events.Add(new TrainEvent(e.Step, m.Key, $"{m.Key} {Fmt(e.From)} → {Fmt(e.To)}", e.To));
        return events.OrderBy(e => e.Step).ToList();
    }

    static string Fmt(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        WaitPending(rethrow: false);
        _worker.Dispose();
        _probe.Dispose();
    }
}
