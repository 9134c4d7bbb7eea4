using SymDsl.IR;
using SymDsl.Torch.Diagnostics.Metrics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Diagnostics;

/// <summary>
/// What the due metrics of one evaluation read from the run, taken on the training thread at the step
/// (<see cref="ProbeEvaluator.Snapshot"/>): the effective parameters, the step's gradients when they are used
/// (<see cref="GradientSource.Step"/>), and the buffers for the probe pass. Inline, the parameters and gradients are taken
/// in float64 at once (the conversion is the copy the measures need); in background mode every tensor is a private copy
/// in its own dtype (one call each, and half the bytes of float64 for float32; the worker converts it, exactly), since
/// training goes on while the evaluation runs: the copies live in a <see cref="SnapshotSlot"/> reused across evaluations.
/// </summary>
internal sealed class ProbeSnapshot : IDisposable
{
    public required long Step { get; init; }
    public required double LearningRate { get; init; }
    public required IReadOnlyList<MetricRuntime> Due { get; init; }
    public required Dictionary<string, Tensor> Effective { get; init; }
    /// <summary>Whether <see cref="Effective"/> and <see cref="StepGradients"/> are already float64 on the CPU.</summary>
    public required bool InFloat64 { get; init; }
    public required Dictionary<string, Tensor>? StepGradients { get; init; }
    public required Dictionary<string, Tensor>? Buffers { get; init; }
    /// <summary>A pass of the shadow model on the probe batch is needed (site values), and with gradients.</summary>
    public required bool NeedForward { get; init; }
    public required bool NeedGradients { get; init; }
    /// <summary>Background mode: the private copies' storage, handed back to its pool when the snapshot is freed.</summary>
    public SnapshotSlot? Slot { get; init; }

    public void Dispose() => Slot?.Return();
}

/// <summary>
/// Background mode's copies of one snapshot, reused from one evaluation to the next: after the first evaluation a snapshot
/// is one in-place copy per tensor (no allocation, nothing to detach from the training thread's dispose scope, nothing
/// for the worker to free). Tensors by key ("p:" effective parameter, "g:" step gradient, "b:" buffer), detached from
/// every dispose scope; the shapes are the run's (the pool is emptied when a run starts and ends).
/// </summary>
internal sealed class SnapshotSlot(SnapshotPool pool)
{
    readonly Dictionary<string, Tensor> _tensors = new();

    /// <summary>The copy of <paramref name="source"/> under <paramref name="key"/>, refreshed in place.</summary>
    public Tensor Copy(string key, Tensor source)
    {
        if (_tensors.TryGetValue(key, out var copy))
        {
            var result = copy.copy_(source);
            if (!ReferenceEquals(result, copy)) result.Dispose(); // (a second handle on the same tensor, in some TorchSharp versions)
            return copy;
        }
        copy = source.detach().clone();
        copy.DetachFromDisposeScope();
        _tensors[key] = copy;
        return copy;
    }

    public void Return() => pool.Return(this);

    public void Free()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}

/// <summary>The free <see cref="SnapshotSlot"/>s (taken on the training thread, returned on the worker).</summary>
internal sealed class SnapshotPool
{
    readonly Stack<SnapshotSlot> _free = new();

    public SnapshotSlot Take()
    {
        lock (_free) return _free.Count > 0 ? _free.Pop() : new SnapshotSlot(this);
    }

    public void Return(SnapshotSlot slot)
    {
        lock (_free) _free.Push(slot);
    }

    /// <summary>Frees every slot returned so far (when no snapshot is out: between runs).</summary>
    public void Clear()
    {
        lock (_free)
        {
            foreach (var slot in _free) slot.Free();
            _free.Clear();
        }
    }
}

/// <summary>What a metric's <see cref="MetricRuntime.Measure"/> reads: the shared results of one evaluation.</summary>
internal sealed class ProbeEvaluation
{
    readonly Dictionary<string, (double[] InSquared, double[] OutSquared)> _norms = new();

    public required long Step { get; init; }
    /// <summary>The learning rate of the step just taken.</summary>
    public required double LearningRate { get; init; }
    /// <summary>The effective parameters, float64 on the CPU.</summary>
    public required IReadOnlyDictionary<string, Tensor> Effective { get; init; }
    /// <summary>The values of the metrics' <see cref="MetricRuntime.Sites"/> on the probe batch (the parameters' dtype).</summary>
    public required IReadOnlyDictionary<int, Tensor> Sites { get; init; }
    /// <summary>The gradients of the probe batch's mean loss w.r.t. the sites, negated (zeros where the loss does not depend on it).</summary>
    public required IReadOnlyDictionary<int, Tensor> SiteGrads { get; init; }
    /// <summary>The loss gradients w.r.t. the effective parameters (the step's, or the probe batch's), float64 on the CPU.</summary>
    public required IReadOnlyDictionary<string, Tensor> ParamGrads { get; init; }

    /// <summary>Per-unit squared norms of <paramref name="sym"/>'s in and out slices, computed once per evaluation (collapse and balance share them).</summary>
    public (double[] InSquared, double[] OutSquared) Norms(SymmetryIR sym) =>
        _norms.TryGetValue(sym.Name, out var n) ? n : _norms[sym.Name] = UnitNorms.FromSymmetry(sym, Effective);

    /// <summary>Activations [N, …] as a matrix [N, rest] (or [N·T, d] when <paramref name="lastAxis"/> is given), optionally centred over rows.</summary>
    public static Tensor Representation(Tensor h, bool center, long? lastAxis = null)
    {
        var x = h.detach().to(ScalarType.Float64);
        x = lastAxis is long d ? x.reshape(-1, d) : x.reshape(x.shape[0], -1);
        return center ? x - x.mean([0], keepdim: true) : x;
    }

    /// <summary>
    /// A site's values on the probe batch [N, …] as a matrix with one column per unit (along <paramref name="unitAxis"/> of an
    /// example's shape) and one row per (example, position) pair, optionally centred per unit.
    /// </summary>
    public static Tensor UnitRows(Tensor h, int unitAxis, bool center)
    {
        var x = h.detach().to(ScalarType.Float64);
        x = x.movedim(new long[] { unitAxis + 1 }, new long[] { x.dim() - 1 });
        x = x.reshape(-1, x.shape[^1]);
        return center ? x - x.mean([0], keepdim: true) : x;
    }
}

/// <summary>
/// The work the metrics of an evaluation share, done once per evaluation: the parameter snapshot in float64
/// (<see cref="Snapshot"/>, on the training thread), then (<see cref="Evaluate"/>, on any one thread at a time) one pass of
/// a private "shadow" model on the run's fixed probe batch for all the site values and gradients the due metrics need, and
/// the per-unit norms on demand.
/// <para>
/// The shadow is a plain (un-reparametrised) <see cref="SymModel"/> of the same IR in which the nodes the metrics read are
/// named, so that any node can be captured and gradients are taken directly w.r.t. the effective parameters. Its
/// parameters and buffers are copied from the snapshot before each pass; the trained model and its gradients are never
/// touched. It runs in evaluation mode (BatchNorm with the running statistics, dropout off), so a pass has no side
/// effects and measures the function the model computes at test time.
/// </para>
/// </summary>
internal sealed class ProbeEvaluator : IDisposable
{
    readonly ModelIR _model;
    readonly TrainIR _train;
    readonly IReadOnlyList<MetricRuntime> _metrics;
    readonly Dictionary<string, TorchSharp.Modules.Parameter> _rawForGradient = new();
    readonly SnapshotPool _slots = new();
    IReadOnlyDictionary<string, Tensor>? _probeBatch;
    SymModel? _shadow;

    public ProbeEvaluator(ModelIR model, TrainIR train, IReadOnlyList<MetricRuntime> metrics)
    {
        _model = model; _train = train; _metrics = metrics;
    }

    static string ShadowSite(int node) => $"__diag{node}";

    HashSet<int> NeededNodes() => _metrics.SelectMany(m => m.Sites).ToHashSet();

    /// <summary>
    /// At the start of a run: which raw tensors carry the effective parameters' gradients, the shadow model (when any pass
    /// on the probe batch can be needed), and each metric's <see cref="MetricRuntime.InitialSites"/>.
    /// </summary>
    public void Start(TrainingContext context)
    {
        Release();
        _probeBatch = context.ProbeBatch;
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
        if (nodes.Count == 0 && !_metrics.Any(m => m.Definition.NeedsGradients)) return; // no pass on the probe batch is ever needed
        var ir = _model with
        {
            Nodes = _model.Nodes.Select(n => nodes.Contains(n.Id) ? n with { Site = ShadowSite(n.Id) } : n with { Site = null }).ToList(),
        };
        // The shadow's initial values are overwritten before every measurement; it draws them from its own generator.
        _shadow = new SymModel(ir, seed: context.Seed);
        _shadow.to(context.Model.ParameterDType).to(context.Device);
        _shadow.eval();
        foreach (var p in _shadow.parameters()) p.DetachFromDisposeScope();
        foreach (var b in _shadow.buffers()) b.DetachFromDisposeScope();
        var initial = _metrics.SelectMany(m => m.InitialSites).ToHashSet();
        if (initial.Count > 0) StartFromInitialisation(context, initial);
    }

    /// <summary>The sites at the run's initialisation (rebuilt from the seed, as the trainer does), given to the metrics that need them.</summary>
    void StartFromInitialisation(TrainingContext context, HashSet<int> nodes)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var init = new SymModel(context.ModelIR, Trainer.Reparametrisations(context.Train), context.Seed);
        init.to(context.Model.ParameterDType).to(context.Device);
        var sites = Pass(init.EffectiveParameters(), init.Buffers(), withGradients: false).sites
            .Where(kv => nodes.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64));
        foreach (var m in _metrics.Where(m => m.InitialSites.Any())) m.Start(sites);
    }

    /// <summary>
    /// On the training thread, right after the step: what <paramref name="due"/> read. With <paramref name="copy"/> every
    /// tensor is a private copy detached from the caller's dispose scope (the snapshot frees them); otherwise the tensors
    /// belong to the caller's scope and the buffers are the model's own (valid until the next step).
    /// </summary>
    public ProbeSnapshot Snapshot(TrainingContext context, long step, IReadOnlyList<MetricRuntime> due, GradientSource gradients, bool copy)
    {
        using var _ = no_grad();
        var effective = new Dictionary<string, Tensor>();
        var slot = copy ? _slots.Take() : null;
        try
        {
            Tensor Take(string key, Tensor t) => slot is null
                ? t.to(ScalarType.Float64, CPU) // float64 on the CPU, as every measure works
                : slot.Copy(key, t);
            foreach (var (name, t) in context.Model.EffectiveParameters()) effective[name] = Take("p:" + name, t);
            var stepGrads = gradients == GradientSource.Step ? StepGradients(due, (name, g) => Take("g:" + name, g)) : null;
            var needGradients = due.Any(m => m.Definition.NeedsSiteGradients || (m.Definition.NeedsGradients && stepGrads is null));
            var needForward = needGradients || due.Any(m => m.Sites.Any());
            if (needForward && _shadow is null) throw new InvalidOperationException("SymmetryDiagnostics.OnStart was not called");
            Dictionary<string, Tensor>? buffers = null;
            if (needForward)
            {
                buffers = new Dictionary<string, Tensor>();
                foreach (var (name, b) in context.Model.Buffers()) buffers[name] = slot is null ? b : slot.Copy("b:" + name, b);
            }
            return new ProbeSnapshot
            {
                Step = step, LearningRate = context.LearningRate, Due = due, Effective = effective, InFloat64 = !copy, StepGradients = stepGrads, Buffers = buffers,
                NeedForward = needForward, NeedGradients = needGradients, Slot = slot,
            };
        }
        catch
        {
            slot?.Return();
            throw;
        }
    }

    /// <summary>
    /// The gradients of the optimizer step just taken (the raw parameters' .grad, the mini-batch loss gradient before weight
    /// decay and momentum) for every parameter a due metric may take from the step; null when any is unavailable (no .grad
    /// yet, or a parameter reparametrised by induce, whose raw gradient is not the effective one).
    /// </summary>
    Dictionary<string, Tensor>? StepGradients(IReadOnlyList<MetricRuntime> due, Func<string, Tensor, Tensor> take)
    {
        var needed = due.SelectMany(m => m.StepGradientParameters ?? []).Distinct().ToList();
        if (needed.Count == 0) return null;
        var raws = new List<(string, Tensor)>();
        foreach (var name in needed)
        {
            if (!_rawForGradient.TryGetValue(name, out var raw)) return null;
            var g = raw.grad;
            if (g is null || g.IsInvalid || !g.shape.SequenceEqual(raw.shape)) return null;
            raws.Add((name, g));
        }
        return raws.ToDictionary(r => r.Item1, r => take(r.Item1, r.Item2));
    }

    /// <summary>
    /// Measures the snapshot's due metrics (on one thread at a time: the shadow model is shared); (key, value) pairs in the
    /// order of the metrics. <paramref name="charge"/> is told when the shared part ("(forward)") and each metric are done.
    /// </summary>
    public List<(string Key, double Value)> Evaluate(ProbeSnapshot snapshot, Action<string> charge)
    {
        using var scope = NewDisposeScope();
        Dictionary<int, Tensor> sites = new(), siteGrads = new();
        Dictionary<string, Tensor> paramGrads = new();
        if (snapshot.NeedForward)
        {
            (sites, siteGrads, paramGrads) = Pass(snapshot.Effective, snapshot.Buffers!, snapshot.NeedGradients);
            paramGrads = F64(paramGrads);
        }
        if (snapshot.StepGradients is not null) paramGrads = snapshot.InFloat64 ? snapshot.StepGradients : F64(snapshot.StepGradients);
        var evaluation = new ProbeEvaluation
        {
            Step = snapshot.Step, LearningRate = snapshot.LearningRate, Effective = snapshot.InFloat64 ? snapshot.Effective : F64(snapshot.Effective),
            Sites = sites, SiteGrads = siteGrads, ParamGrads = paramGrads,
        };
        charge("(forward)");
        using var _ = no_grad();
        var result = new List<(string, double)>();
        foreach (var m in snapshot.Due)
        {
            result.AddRange(m.Measure(evaluation));
            charge(m.Key);
        }
        return result;
    }

    /// <summary>
    /// One pass of the shadow model on the probe batch with <paramref name="parameters"/> (the effective parameters) and
    /// <paramref name="buffers"/>: captured node values, and with <paramref name="withGradients"/> the gradients of the mean
    /// training loss w.r.t. every captured node and every effective parameter (autograd.grad: nothing accumulates in .grad).
    /// </summary>
    (Dictionary<int, Tensor> sites, Dictionary<int, Tensor> siteGrads, Dictionary<string, Tensor> paramGrads) Pass(
        IReadOnlyDictionary<string, Tensor> parameters, IReadOnlyDictionary<string, Tensor> buffers, bool withGradients)
    {
        var shadow = _shadow!;
        var probe = _probeBatch!;
        shadow.SetEffectiveParameters(parameters);
        shadow.SetBuffers(buffers);
        var names = NeededNodes().ToDictionary(ShadowSite, n => n);
        var captured = new Dictionary<string, Tensor>();
        var sites = new Dictionary<int, Tensor>();
        var siteGrads = new Dictionary<int, Tensor>();
        var paramGrads = new Dictionary<string, Tensor>();
        if (!withGradients)
        {
            using var _ = no_grad();
            shadow.Forward(probe, names.Keys.ToHashSet(), captured);
            foreach (var (name, t) in captured) sites[names[name]] = t;
            return (sites, siteGrads, paramGrads);
        }
        using (enable_grad())
        {
            var outputs = shadow.Forward(probe, names.Keys.ToHashSet(), captured);
            var loss = Trainer.LossOf(_train.Loss.Kind, outputs[_train.Loss.Output], probe[_train.Loss.Target]);
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

    /// <summary>Each tensor as float64 on the CPU (an exact conversion), owned by the current dispose scope.</summary>
    static Dictionary<string, Tensor> F64(IReadOnlyDictionary<string, Tensor> tensors) =>
        tensors.ToDictionary(kv => kv.Key, kv => TensorMath.F64(kv.Value));

    static Tensor GradOrZeros(Tensor? g, Tensor like) => g is null || g.IsInvalid ? zeros_like(like).detach() : g.detach();

    /// <summary>Frees the shadow model and what the metrics kept from <see cref="Start"/>.</summary>
    public void Release()
    {
        _slots.Clear(); // (every snapshot of the run has been freed: the caller waited for its evaluations)
        _shadow?.Dispose();
        _shadow = null;
        foreach (var m in _metrics) m.Release();
    }

    public void Dispose() => Release();
}
