using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Training;
using SymDsl.Vocabulary;
using TorchSharp;
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

/// <summary>Options of <see cref="SymmetryDiagnostics"/>.</summary>
public sealed record DiagnosticsOptions(GradientSource Gradients = GradientSource.Step)
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
/// Forward/backward passes for site activations and gradients run on a private "shadow" copy of the model: a plain
/// (un-reparametrised) <see cref="SymModel"/> of the same IR in which the nodes the metrics read are named, so that
/// any node can be captured and gradients are taken directly w.r.t. the effective parameters. Its parameters are
/// copied from the trained model before each measurement; the trained model and its gradients are never touched.
/// </para>
/// </summary>
public sealed partial class SymmetryDiagnostics : ITrainingObserver, IDisposable
{
    /// <summary>One resolved <c>diagnose</c> metric.</summary>
    sealed record Plan(DiagnoseIR D, SymmetryIR? Sym, string? Parameter, int? SiteNode, int? ANode, int? BNode, string? AlignWeight)
    {
        public MetricDefinition Definition { get; } = Vocabulary.Metrics.Get(D.Metric);
        public MetricRuntime Runtime { get; } = Runtimes[D.Metric];
        public BoundArgs Args { get; } = Vocabulary.Metrics.Get(D.Metric).Bind(D.Args);
        public string Key => D.Key;
        public bool NeedsGradients => Definition.NeedsGradients;
        public bool NeedsSiteGradients => Definition.NeedsSiteGradients;
        public bool IsEventSeries => Definition.EventSeries;
        /// <summary>alignment at a convolution: its stride and padding (null for a Linear layer).</summary>
        public ConvGeometry? Conv { get; init; }
        /// <summary>alignment: the random baseline for the layer's sizes, computed at the first measurement.</summary>
        public CrhAlignment? Baseline { get; set; }
    }

    readonly ModelIR _model;
    readonly TrainIR _train;
    readonly List<Plan> _plans;
    readonly Dictionary<string, List<(long step, double value)>> _series = new();
    readonly Dictionary<int, Tensor> _ckaReference = new();
    readonly Stopwatch _clock = new();
    SymModel? _shadow;
    bool _disposed;

    /// <summary>The metrics measured, in the order of the train block.</summary>
    public IReadOnlyList<DiagnoseIR> Metrics => _plans.Select(p => p.D).ToList();
    /// <summary>Wall time spent measuring (OnStep work only), for cost accounting.</summary>
    public double Seconds => _clock.Elapsed.TotalSeconds;
    /// <summary>Wall time by metric key, plus "(forward)" for the shadow pass (activations and gradients), for cost accounting.</summary>
    public IReadOnlyDictionary<string, double> SecondsByMetric => _secondsBy;
    readonly Dictionary<string, double> _secondsBy = new();
    void Charge(string what, Stopwatch sw) { _secondsBy[what] = _secondsBy.GetValueOrDefault(what) + sw.Elapsed.TotalSeconds; sw.Restart(); }

    /// <summary>Wall time of each evaluation (each step with a metric due), in order.</summary>
    public IReadOnlyList<double> EvaluationSeconds => _evalSeconds;
    readonly List<double> _evalSeconds = new();

    /// <summary>How many steps had at least one metric due.</summary>
    public int Evaluations { get; private set; }
    /// <summary>The recorded headline series of the event-producing metrics (collapse, duplicates, rank), by key.</summary>
    public IReadOnlyDictionary<string, List<(long step, double value)>> Series => _series;

    readonly DiagnosticsOptions _options;
    readonly Dictionary<string, TorchSharp.Modules.Parameter> _rawForGradient = new();

    SymmetryDiagnostics(ModelIR model, TrainIR train, List<Plan> plans, DiagnosticsOptions options)
    {
        _model = model; _train = train; _plans = plans; _options = options;
        foreach (var p in plans.Where(p => p.IsEventSeries)) _series[p.Key] = new();
        foreach (var p in plans.Where(p => p.Runtime.ModeEvents))
            foreach (var k in ModeKeys(p)) _series[k] = new();
    }

    /// <summary>The per-mode series keys of a plan whose events are mode events: Key.sv1 … Key.sv8.</summary>
    static IEnumerable<string> ModeKeys(Plan p) =>
        Enumerable.Range(1, MaxModes).Select(k => p.Key + ".sv" + k.ToString(CultureInfo.InvariantCulture));

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
        var plans = new List<Plan>();
        foreach (var d in train.Diagnostics)
        {
            if (d.Targets.Count != 1) throw new SymDslException($"diagnose {d.Key}: one target expected");
            var target = d.Targets[0];
            var kind = d.TargetKinds.Count > 0 ? d.TargetKinds[0] : "";
            if (d.Every <= 0) throw new SymDslException($"diagnose {d.Key}: every must be positive");
            if (Vocabulary.Metrics.Find(d.Metric) is not { } definition || !Runtimes.TryGetValue(d.Metric, out var runtime))
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
            plans.Add(runtime.Plan(new PlanScope(model, d, target, kind, Sym, SiteNode)));
        }
        return new SymmetryDiagnostics(model, train, plans, options);
    }

    /// <summary>A convolution read as a linear map on unfolded patches (Measures.Alignment.CrhConv).</summary>
    internal sealed record ConvGeometry(long Stride, long Padding);

    /// <summary>
    /// The layer h_b = W h_a of the CRH alignment at site node <paramref name="site"/>, by the first rule that applies:
    /// (1) the first Linear layer applied to the site (h_a = the site, h_b = its output); (2) the first Conv1d/Conv2d applied
    /// to the site (h_a = the site's unfolded patches, h_b = the output per position; <see cref="ConvGeometry"/>);
    /// (3) a BatchNorm applied to the site whose output a convolution reads (BatchNorm-then-conv: the layer is that convolution,
    /// h_a = the BatchNorm's output, the convolution's actual input); (4) a global average pool of the site read by a Linear
    /// (a [C, H, W] site feeding a pooled classifier: the layer is that Linear, h_a = the pooled vector — the same numbers as
    /// alignment at the pooled site); (5) the Linear or convolution that produces the site directly (h_a = its input,
    /// h_b = the site). Returns node ids, the weight's logical name and, for a convolution, its geometry; null when none applies.
    /// </summary>
    static (int a, int b, string weight, ConvGeometry? conv)? AlignmentLayer(ModelIR model, int site)
    {
        string? Weight(NodeIR n) => n.Op == OpKind.Layer ? LayerDefinition.Of(model.Layer(n.Attr("layer")).Kind).LinearWeight : null;
        ConvGeometry? Conv(NodeIR n)
        {
            if (n.Op != OpKind.Layer) return null;
            var layer = model.Layer(n.Attr("layer"));
            return LayerDefinition.Of(layer.Kind) is SymDsl.Vocabulary.Layers.Convolution
                ? new ConvGeometry(Arg(layer, "stride", 1), Arg(layer, "padding", 0)) : null;
        }
        static long Arg(LayerIR l, string name, long fallback) => l.Args.TryGetValue(name, out var v) ? v.AsInt() : fallback;
        bool IsBatchNorm(NodeIR n) => n.Op == OpKind.Layer && LayerDefinition.Of(model.Layer(n.Attr("layer")).Kind) is SymDsl.Vocabulary.Layers.BatchNorm;
        bool IsGlobalPool(NodeIR n) => n.Op == OpKind.Activation && n.Shape.Count == 1
            && Functions.Get(n.Attr("fn")) is var f && f.Has(FunctionProperties.OverPositions) && f.Has(FunctionProperties.Linear);
        IEnumerable<NodeIR> Consumers(int id) => model.Nodes.Where(n => n.Inputs.Count == 1 && n.Inputs[0] == id);
        string WeightOf(NodeIR n, string local) => $"{n.Attr("layer")}.{local}";
        const string ConvWeight = "weight";

        if (Consumers(site).FirstOrDefault(n => Weight(n) is not null) is { } linear) return (site, linear.Id, WeightOf(linear, Weight(linear)!), null);
        if (Consumers(site).FirstOrDefault(n => Conv(n) is not null) is { } conv) return (site, conv.Id, WeightOf(conv, ConvWeight), Conv(conv));
        foreach (var bn in Consumers(site).Where(IsBatchNorm))
            if (Consumers(bn.Id).FirstOrDefault(n => Conv(n) is not null) is { } c) return (bn.Id, c.Id, WeightOf(c, ConvWeight), Conv(c));
        foreach (var pool in Consumers(site).Where(IsGlobalPool))
            if (Consumers(pool.Id).FirstOrDefault(n => Weight(n) is not null) is { } head) return (pool.Id, head.Id, WeightOf(head, Weight(head)!), null);
        var producer = model.Node(site);
        if (producer.Op == OpKind.Layer && producer.Inputs.Count == 1 && model.Node(producer.Inputs[0]).Type == ElementType.Float32)
        {
            if (Weight(producer) is { } w) return (producer.Inputs[0], site, WeightOf(producer, w), null);
            if (Conv(producer) is { } g) return (producer.Inputs[0], site, WeightOf(producer, ConvWeight), g);
        }
        return null;
    }

    /// <summary>Whether <paramref name="d"/> is measured after step <paramref name="step"/>: step 1 and every multiple of Every.</summary>
    public static bool IsDue(DiagnoseIR d, long step) => step == 1 || (d.Every > 0 && step % d.Every == 0);

    static string ShadowSite(int node) => $"__diag{node}";

    public void OnStart(TrainingContext context)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // A new run (or a resumed one): start the series afresh, from metrics.jsonl after a resume.
        ReleaseTensors();
        foreach (var list in _series.Values) list.Clear();
        if (context.StartStep > 0) LoadPreviousSeries(context);
        // Raw tensors whose gradient is the gradient w.r.t. the effective parameter: plain ones and syre's stored P = θ + θ₀.
        _rawForGradient.Clear();
        var named = context.Model.named_parameters().ToDictionary(np => np.name, np => np.parameter);
        foreach (var name in context.Model.ParameterNames)
        {
            var param = context.Model.ParameterizationOf(name);
            if (param is PlainParameterization or OffsetParameterization && named.TryGetValue(context.Model.RawKeys[name][0], out var raw))
                _rawForGradient[name] = raw;
        }
        var nodes = NeededNodes();
        if (nodes.Count == 0 && !_plans.Any(p => p.NeedsGradients)) return; // no pass on the probe batch is ever needed
        var ir = _model with
        {
            Nodes = _model.Nodes.Select(n => nodes.Contains(n.Id) ? n with { Site = ShadowSite(n.Id) } : n with { Site = null }).ToList(),
        };
        // The shadow's initial values are overwritten before every measurement; it draws them from its own generator.
        _shadow = new SymModel(ir, seed: context.Seed);
        _shadow.to(context.Model.ParameterDType).to(context.Device);
        // Metrics are measured in evaluation mode: BatchNorm with the running statistics (copied from the measured model
        // before each pass), dropout off. A pass then has no side effects on the run (no running statistics move, no mask
        // is drawn) and measures the function the model computes at test time.
        _shadow.eval();
        foreach (var p in _shadow.parameters()) p.DetachFromDisposeScope();
        foreach (var b in _shadow.buffers()) b.DetachFromDisposeScope();
        if (_plans.Any(p => p.Runtime.InitialReference)) CaptureInitialReference(context);
    }

    HashSet<int> NeededNodes()
    {
        var set = new HashSet<int>();
        foreach (var p in _plans)
        {
            if (p.SiteNode is int s) set.Add(s);
            if (p.ANode is int a) set.Add(a);
            if (p.BNode is int b) set.Add(b);
        }
        return set;
    }

    /// <summary>cka(h)'s reference: h on the probe batch at the run's initialisation (rebuilt from the seed, as the trainer does).</summary>
    void CaptureInitialReference(TrainingContext context)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var init = new SymModel(context.ModelIR, Trainer.Reparametrisations(context.Train), context.Seed);
        init.to(context.Model.ParameterDType).to(context.Device);
        var sites = Forward(context, init.EffectiveParameters(), withGradients: false, init).sites;
        foreach (var p in _plans.Where(p => p.Runtime.InitialReference))
        {
            var node = p.SiteNode!.Value;
            if (_ckaReference.ContainsKey(node)) continue;
            var r = sites[node].detach().to(ScalarType.Float64).clone();
            r.DetachFromDisposeScope();
            _ckaReference[node] = r;
        }
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

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var due = _plans.Where(p => IsDue(p.D, step)).ToList();
        if (due.Count == 0) return;
        var started = _clock.Elapsed;
        _clock.Start();
        try
        {
            Evaluations++;
            foreach (var (key, value) in Measure(context, due))
            {
                metrics[key] = value;
                if (_series.TryGetValue(key, out var list)) list.Add((step, value));
            }
        }
        finally
        {
            _clock.Stop();
            _evalSeconds.Add((_clock.Elapsed - started).TotalSeconds);
        }
    }

    /// <summary>Measures the given metrics now; returns (key, value) pairs in plan order.</summary>
    List<(string key, double value)> Measure(TrainingContext context, List<Plan> due)
    {
        var result = new List<(string, double)>();
        var sw = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        IReadOnlyDictionary<string, Tensor> live;
        using (no_grad()) live = context.Model.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach());
        // Every measure works in float64 on the CPU (Measures' TensorMath.F64: detach().to(Float64, CPU)); convert each
        // parameter once per evaluation instead of once per metric (the same values: the conversion is exact).
        var effective = F64(live);

        Dictionary<int, Tensor> sites = new();
        Dictionary<int, Tensor> siteGrads = new();
        Dictionary<string, Tensor> paramGrads = new();
        var stepGrads = _options.Gradients == GradientSource.Step ? StepGradients(due) : null;
        var needGradients = due.Any(p => p.NeedsSiteGradients || (p.NeedsGradients && stepGrads is null));
        var needForward = needGradients || due.Any(p => p.SiteNode is not null);
        if (needForward)
        {
            if (_shadow is null) throw new InvalidOperationException("SymmetryDiagnostics.OnStart was not called");
            (sites, siteGrads, paramGrads) = Forward(context, live, withGradients: needGradients, context.Model);
        }
        if (stepGrads is not null) paramGrads = stepGrads;
        paramGrads = F64(paramGrads);
        var norms = new Dictionary<string, (double[] InSquared, double[] OutSquared)>();
        (double[] InSquared, double[] OutSquared) Norms(SymmetryIR sym) =>
            norms.TryGetValue(sym.Name, out var n) ? n : norms[sym.Name] = UnitNorms.FromSymmetry(sym, effective);
        Charge("(forward)", sw);

        using var _ = no_grad();
        var measurement = new Measurement(context, effective, sites, siteGrads, paramGrads, Norms);
        foreach (var p in due)
        {
            var key = p.Key;
            result.AddRange(p.Runtime.Measure(this, p, measurement));
            Charge(key, sw);
        }
        return result;
    }

    /// <summary>
    /// The gradients of the optimizer step just taken (the raw parameters' .grad, the mini-batch loss gradient before weight
    /// decay and momentum) for every parameter a due balance metric needs; null when any is unavailable (no .grad yet, or a
    /// parameter reparametrised by induce, whose raw gradient is not the effective one).
    /// </summary>
    Dictionary<string, Tensor>? StepGradients(List<Plan> due)
    {
        var needed = due.Where(p => p.Runtime.StepGradients).SelectMany(p => p.Sym!.Parameters).Distinct().ToList();
        if (needed.Count == 0) return null;
        var grads = new Dictionary<string, Tensor>();
        foreach (var name in needed)
        {
            if (!_rawForGradient.TryGetValue(name, out var raw)) return null;
            var g = raw.grad;
            if (g is null || g.IsInvalid || !g.shape.SequenceEqual(raw.shape)) return null;
            grads[name] = g.detach();
        }
        return grads;
    }

    /// <summary>
    /// balance(S). Rescale: Q_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖²; headline mean_i |Q_i|, .q_mean = mean_i Q_i (exactly
    /// conserved by gradient flow), .grad_ratio = median_i r_i, .log_ratio = mean ln r_i. Rotation: headline
    /// ‖C‖_F with C = S_F S_Fᵀ − S_I S_Iᵀ (W₁W₁ᵀ − W₂ᵀW₂), over blocks sqrt(Σ_b ‖C_b‖²_F); .grad_imbalance the rotation
    /// gradient imbalance averaged over blocks. Gradients: see <see cref="DiagnosticsOptions.Gradients"/>.
    /// </summary>
    static IEnumerable<(string, double)> BalanceMetrics(Plan p, IReadOnlyDictionary<string, Tensor> effective, Dictionary<string, Tensor> grads,
        Func<SymmetryIR, (double[] InSquared, double[] OutSquared)> norms)
    {
        var sym = p.Sym!;
        var key = p.Key;
        if (sym.Kind == SymmetryKind.Rescale)
        {
            var (inSq, outSq) = norms(sym); // Balance.RescaleConserved: Q_i = in_i − out_i
            var q = inSq.Zip(outSq, (a, b) => a - b).ToArray();
            yield return (key, q.Length == 0 ? double.NaN : q.Average(Math.Abs));
            yield return (key + ".q_mean", q.Length == 0 ? double.NaN : q.Average());
            var r = Balance.GradientRatio(sym, grads);
            yield return (key + ".grad_ratio", r.Median);
            yield return (key + ".log_ratio", r.MeanLogRatio);
            yield break;
        }
        var cs = Balance.ConservedMatrices(sym, effective);
        yield return (key, Math.Sqrt(cs.Sum(c => c.Cast<double>().Sum(x => x * x))));
        var f = UnitNorms.Slices(sym, grads, ActionRole.Forward);
        var i = UnitNorms.Slices(sym, grads, ActionRole.Inverse);
        if (f is null || i is null) { yield return (key + ".grad_imbalance", double.NaN); yield break; }
        int n = sym.Dim, nb = Math.Max(1, sym.Blocks);
        var per = Enumerable.Range(0, nb).Select(b => Balance.RotationGradientImbalance(f.narrow(0, b * n, n), i.narrow(0, b * n, n).t())).Where(double.IsFinite).ToArray();
        yield return (key + ".grad_imbalance", per.Length > 0 ? per.Average() : double.NaN);
    }

    /// <summary>Activations [N, …] as a matrix [N, rest] (or [N·T, d] when <paramref name="lastAxis"/> is given), optionally centred over rows.</summary>
    static Tensor Representation(Tensor h, bool center, long? lastAxis = null)
    {
        var x = h.detach().to(ScalarType.Float64);
        x = lastAxis is long d ? x.reshape(-1, d) : x.reshape(x.shape[0], -1);
        return center ? x - x.mean([0], keepdim: true) : x;
    }

    /// <summary>
    /// A site's values on the probe batch [N, …] as a matrix with one column per unit (along <paramref name="unitAxis"/> of an
    /// example's shape) and one row per (example, position) pair, optionally centred per unit.
    /// </summary>
    static Tensor UnitRows(Tensor h, int unitAxis, bool center)
    {
        var x = h.detach().to(ScalarType.Float64);
        x = x.movedim(new long[] { unitAxis + 1 }, new long[] { x.dim() - 1 });
        x = x.reshape(-1, x.shape[^1]);
        return center ? x - x.mean([0], keepdim: true) : x;
    }

    /// <summary>
    /// One pass of the shadow model on the probe batch with <paramref name="parameters"/> (the effective parameters):
    /// captured node values, and with <paramref name="withGradients"/> the gradients of the mean training loss w.r.t.
    /// every captured node and every effective parameter (autograd.grad: nothing accumulates in .grad).
    /// </summary>
    (Dictionary<int, Tensor> sites, Dictionary<int, Tensor> siteGrads, Dictionary<string, Tensor> paramGrads) Forward(
        TrainingContext context, IReadOnlyDictionary<string, Tensor> parameters, bool withGradients, SymModel buffersOf)
    {
        var shadow = _shadow!;
        shadow.SetEffectiveParameters(parameters);
        shadow.SetBuffers(buffersOf.Buffers());
        var nodes = NeededNodes();
        var names = nodes.ToDictionary(ShadowSite, n => n);
        var captured = new Dictionary<string, Tensor>();
        var sites = new Dictionary<int, Tensor>();
        var siteGrads = new Dictionary<int, Tensor>();
        var paramGrads = new Dictionary<string, Tensor>();
        if (!withGradients)
        {
            using var _ = no_grad();
            shadow.Forward(context.ProbeBatch, names.Keys.ToHashSet(), captured);
            foreach (var (name, t) in captured) sites[names[name]] = t;
            return (sites, siteGrads, paramGrads);
        }
        using (enable_grad())
        {
            var outputs = shadow.Forward(context.ProbeBatch, names.Keys.ToHashSet(), captured);
            var loss = Trainer.LossOf(_train.Loss.Kind, outputs[_train.Loss.Output], context.ProbeBatch[_train.Loss.Target]);
            var paramNames = shadow.ParameterNames.ToList();
            var siteNames = captured.Keys.Where(k => captured[k].requires_grad).ToList();
            var inputs = paramNames.Select(shadow.EffectiveParameter).Concat(siteNames.Select(k => captured[k])).ToList();
            var grads = torch.autograd.grad([loss], inputs, [ones_like(loss)], allow_unused: true);
            for (int k = 0; k < paramNames.Count; k++)
                paramGrads[paramNames[k]] = GradOrZeros(grads[k], inputs[k]);
            for (int k = 0; k < siteNames.Count; k++)
                siteGrads[names[siteNames[k]]] = GradOrZeros(grads[paramNames.Count + k], inputs[paramNames.Count + k]).neg();
        }
        foreach (var (name, t) in captured)
        {
            sites[names[name]] = t.detach();
            if (!siteGrads.ContainsKey(names[name])) siteGrads[names[name]] = zeros_like(t);
        }
        return (sites, siteGrads, paramGrads);
    }

    /// <summary>Each tensor detached and in float64 on the CPU, as the measures use it.</summary>
    static Dictionary<string, Tensor> F64(IReadOnlyDictionary<string, Tensor> tensors) =>
        tensors.ToDictionary(kv => kv.Key, kv => TensorMath.F64(kv.Value));

    static Tensor GradOrZeros(Tensor? g, Tensor like) => g is null || g.IsInvalid ? zeros_like(like).detach() : g.detach();

    public void OnEnd(TrainingContext context, TrainSummary summary)
    {
        summary.Values["diagnostics_seconds"] = Seconds;
        summary.Values["diagnostics_evaluations"] = Evaluations;
        summary.Events.AddRange(DetectEvents());
        var ordered = summary.Events.OrderBy(e => e.Step).ToList(); // stable: same-step events keep their order
        summary.Events.Clear();
        summary.Events.AddRange(ordered);
        ReleaseTensors(); // the run is over: free the shadow model (the series stay readable)
    }

    /// <summary>
    /// Events of the integer-valued headlines (collapse, duplicates): <see cref="Events.Detect"/> with the Level rule
    /// (quantum 1; a new level must hold for 3 consecutive measurements); of rank: <see cref="ModeEvents.Detect"/> on
    /// .sv1 … .sv8 (mode k learned = its rise to half its final value; the event's value is k). In step order.
    /// </summary>
    public IReadOnlyList<TrainEvent> DetectEvents()
    {
        var events = new List<TrainEvent>();
        foreach (var p in _plans.Where(p => p.Runtime.ModeEvents))
        {
            var modes = ModeKeys(p).Select(k => (IReadOnlyList<(long, double)>)_series[k]).Where(s => s.Count > 0).ToList();
            foreach (var e in ModeEvents.Detect(modes))
                events.Add(new TrainEvent(e.Step, p.Key,
                    $"{p.Key} mode {e.Mode} learned: sv{e.Mode} {Fmt(e.From)} → {Fmt(e.To)} (half of final {Fmt(e.Final)})", e.Mode));
        }
        foreach (var p in _plans.Where(p => p.IsEventSeries && !p.Runtime.ModeEvents))
            foreach (var e in Events.Detect(_series[p.Key], p.Key))
                events.Add(new TrainEvent(e.Step, p.Key, $"{p.Key} {Fmt(e.From)} → {Fmt(e.To)}", e.To));
        return events.OrderBy(e => e.Step).ToList();
    }

    static string Fmt(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ReleaseTensors();
    }

    void ReleaseTensors()
    {
        _shadow?.Dispose();
        _shadow = null;
        foreach (var t in _ckaReference.Values) t.Dispose();
        _ckaReference.Clear();
    }
}
