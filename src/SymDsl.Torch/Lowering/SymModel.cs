using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Semantics;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using SymDsl.Torch.Runtime;
using SymDsl.Torch.Lowering.Layers;

namespace SymDsl.Torch.Lowering;

/// <summary>
/// A per-parameter reparametrisation requested by a train block. Kind "offset" (a break method: <see cref="Method"/> =
/// syre, perturb or syre_diag; <see cref="Axis"/> = the unit axis for perturb), "hadamard" (induce sparsity) or
/// "factorized" (induce lowrank, optional <see cref="Rank"/>). An induce and an offset may apply to the same parameter.
/// </summary>
public sealed record ReparamRequest(string Parameter, string Kind, double Sigma = 0, double Decay = 0, int? Rank = null, string Method = "syre", int? Axis = null);

/// <summary>
/// A <see cref="ModelIR"/> lowered to a TorchSharp module.
/// <para>
/// Layout: one child module per layer (its name sanitised: "fc[2]" → "fc_2"), nested child modules for dotted
/// local names ("attn" → "q" → weight). A Plain parameter is registered under its logical name, so the
/// state_dict key of "fc1.weight" is "fc1.weight"; a reparametrised one gets a child node named after the
/// parameter holding its raw tensors (syre/perturb: "fc1.weight.value" = θ + θ₀ + buffer "fc1.weight.theta0";
/// syre_diag: "fc1.weight.theta" + "fc1.weight.theta0" + "fc1.weight.decay_d"; "fc1.weight.u"/"v"; "fc1.weight.U"/"V"). <see cref="RawKeys"/> maps logical names to their raw state_dict keys.
/// </para>
/// <para>
/// The model is built dynamically from the IR, so its components cannot be C# fields; they are registered
/// explicitly with register_module/register_parameter/register_buffer (the generated C# of the front end uses fields).
/// </para>
/// </summary>
public sealed class SymModel : nn.Module<Dictionary<string, Tensor>, Dictionary<string, Tensor>>
{
    readonly Dictionary<string, Parameterization> _params = new();
    readonly Dictionary<string, List<string>> _rawKeys = new();
    readonly Dictionary<string, ParamNode> _nodes = new();
    readonly Dictionary<string, double> _rawDecay = new();

    public ModelIR IR { get; }
    readonly Dictionary<string, LayerIR> _layers;

    /// <summary>
    /// Builds the module. Initialisation draws in IR parameter order, then the syre offsets θ₀, from a private
    /// generator seeded with <paramref name="seed"/>: the initial weights are a function of (IR, reparametrisations,
    /// seed) alone, whatever other threads do; torch's process-global generator is never read.
    /// </summary>
    public SymModel(ModelIR ir, IEnumerable<ReparamRequest>? reparams = null, long seed = 0) : base(Names.Sanitize(ir.Name))
    {
        using var gen = new Generator(unchecked((ulong)seed));
        IR = ir;
        _layers = ir.Layers.ToDictionary(l => l.Name);
        var offsets = new Dictionary<string, ReparamRequest>();
        var induced = new Dictionary<string, ReparamRequest>();
        foreach (var r in reparams ?? [])
        {
            if (!ir.Parameters.Any(p => p.Name == r.Parameter))
                throw new SymDslException($"model {ir.Name} has no parameter {r.Parameter} (to {(r.Kind == "offset" ? r.Method : r.Kind)})");
            var table = r.Kind == "offset" ? offsets : induced;
            if (table.TryGetValue(r.Parameter, out var prev) && (prev.Kind != r.Kind || prev.Method != r.Method))
                throw new SymDslException($"parameter {r.Parameter}: cannot apply both {(prev.Kind == "offset" ? prev.Method : prev.Kind)} and {(r.Kind == "offset" ? r.Method : r.Kind)}");
            table[r.Parameter] = r;
        }

        var inits = new List<(ParameterIR p, LayerIR layer, Tensor init)>();
        using (no_grad())
            foreach (var layer in ir.Layers)
                foreach (var p in layer.Parameters)
                    inits.Add((p, layer, Initial(layer, p, gen)));

        foreach (var (p, layer, init) in inits)
        {
            var segments = p.Name.Split('.').Select(Names.Sanitize).ToArray();
            var fullRaw = string.Join(".", segments);
            Parameterization param;
            var hasOffset = offsets.TryGetValue(p.Name, out var off);
            var hasInduce = induced.TryGetValue(p.Name, out var ind);
            if (!hasOffset && !hasInduce)
            {
                param = new PlainParameterization(p.Name, NodeFor(segments[..^1]), segments[^1], init);
                _rawKeys[p.Name] = [fullRaw];
            }
            else
            {
                var node = NodeFor(segments);
                Parameterization? inner = null;
                if (hasInduce)
                    inner = ind!.Kind switch
                    {
                        "hadamard" => new HadamardParameterization(p.Name, node, init),
                        "factorized" => new FactorizedParameterization(p.Name, node, init, ind.Rank),
                        _ => throw new SymDslException($"unknown reparametrisation {ind.Kind} for {p.Name}"),
                    };
                param = hasOffset
                    ? new OffsetParameterization(p.Name, node, init, off!.Method, off.Sigma, off.Decay, gen, inner, off.Axis)
                    : inner!;
                _rawKeys[p.Name] = param.RawParameterNames.Select(n => fullRaw + "." + n).ToList();
                if (param is OffsetParameterization o)
                {
                    _rawKeys[p.Name].Add(fullRaw + ".theta0");
                    if (o.DecayIsPenalty) _rawKeys[p.Name].Add(fullRaw + ".decay_d");
                    foreach (var raw in o.RawParameterNames)
                        _rawDecay[fullRaw + "." + raw] = o.DecayIsPenalty ? 0.0 : o.Decay;
                }
            }
            _params[p.Name] = param;
            init.Dispose();
        }
        // Layer buffers (a BatchNorm's running statistics): "{layer}.{local}", in the layer's node beside its parameters.
        foreach (var layer in ir.Layers)
            foreach (var (local, initial) in LayerRuntime.Of(layer.Kind).Buffers(layer))
            {
                var segments = $"{layer.Name}.{local}".Split('.').Select(Names.Sanitize).ToArray();
                var node = NodeFor(segments[..^1]);
                node.register_buffer(segments[^1], initial(), persistent: true);
                _buffers[$"{layer.Name}.{local}"] = (node, segments[^1]);
            }
        _seed = seed;
        // Components are registered explicitly above (dynamic layout); nothing is held in fields.
        _outputs = ir.Outputs.Select(o => (o.Name, o.Node)).ToArray();
        _dtypeSource = ir.Parameters.Select(p => _params.GetValueOrDefault(p.Name)).FirstOrDefault(p => p is not null);
    }

    readonly Dictionary<string, (ParamNode Node, string Local)> _buffers = new();
    readonly long _seed;

    // ------------------------------------------------------------------ mode and randomness (docs/language.md, "Modes")

    /// <summary>
    /// What <see cref="Forward"/> computes: <see cref="ForwardMode.Train"/> (a new module's mode, as TorchSharp's), set by
    /// <c>train()</c>; <see cref="ForwardMode.Eval"/>, set by <c>eval()</c>; <see cref="ForwardMode.Verify"/> (batch statistics
    /// without touching the running statistics, dropout off), set by <see cref="SetMode"/>.
    /// </summary>
    public ForwardMode Mode { get; private set; } = ForwardMode.Train;

    public override void train(bool on = true)
    {
        base.train(on);
        Mode = on ? ForwardMode.Train : ForwardMode.Eval;
    }

    /// <summary>Sets <see cref="Mode"/> (and TorchSharp's training flag: true for Train and Verify).</summary>
    public void SetMode(ForwardMode mode)
    {
        base.train(mode != ForwardMode.Eval);
        Mode = mode;
    }

    Generator? _stepGenerator;

    /// <summary>
    /// Starts training step <paramref name="step"/> (0-based): dropout's masks in it are drawn from a generator seeded by
    /// (the model's seed, step) alone, so a resumed run draws the same masks as an uninterrupted one, and no other run or
    /// thread touches them. The trainer calls it before every step; without it, the masks come from step 0's generator on.
    /// </summary>
    public void BeginStep(long step)
    {
        // Made when a random function first asks for it in this step (most models have none: no generator per step).
        _stepGenerator?.Dispose();
        _stepGenerator = null;
        _step = step;
    }

    long _step;

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _stepGenerator?.Dispose(); _stepGenerator = null; _offsetStep?.Dispose(); }
        base.Dispose(disposing);
    }

    /// <summary>The seed of step <paramref name="step"/>'s generator: a SplitMix64 mix of (seed, step).</summary>
    internal static ulong StepSeed(long seed, long step)
    {
        var z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>The generator random functions (dropout) draw from in <see cref="ForwardMode.Train"/>.</summary>
    Generator StepGenerator => _stepGenerator ??= new Generator(StepSeed(_seed, _step));

    /// <summary>The run-time state functions and layers read: the mode, the step's generator, the buffers.</summary>
    sealed class State(SymModel owner, string? layer) : ILayerState, IFunctionState
    {
        public ForwardMode Mode => owner.Mode;
        public Generator Generator => owner.StepGenerator;
        public Tensor Buffer(string local) => owner.Buffer($"{layer}.{local}");
    }

    /// <summary>Every layer buffer by logical name ("bn.running_mean"), in layer order: the live tensors (do not dispose them).</summary>
    public IReadOnlyDictionary<string, Tensor> Buffers() => _buffers.Keys.ToDictionary(k => k, Buffer);

    /// <summary>Buffer <paramref name="name"/> ("bn.running_mean"), live.</summary>
    public Tensor Buffer(string name)
        => _buffers.TryGetValue(name, out var b) ? b.Node.get_buffer(b.Local) ?? throw new InvalidOperationException($"buffer {name} missing")
         : throw new SymDslException($"model {IR.Name} has no buffer {name}");

    /// <summary>Copies buffer values (any subset, by logical name) into the model's buffers, without recording gradients.</summary>
    public void SetBuffers(IReadOnlyDictionary<string, Tensor> values)
    {
        using var _ = no_grad();
        foreach (var (name, value) in values)
        {
            var b = Buffer(name);
            if (!b.shape.SequenceEqual(value.shape))
                throw new SymDslException($"buffer {name}: expected shape [{string.Join(", ", b.shape)}], got [{string.Join(", ", value.shape)}]");
            b.copy_(value);
        }
    }

    ParamNode NodeFor(string[] segments)
    {
        nn.Module parent = this;
        var path = "";
        foreach (var s in segments)
        {
            path = path.Length == 0 ? s : path + "." + s;
            if (!_nodes.TryGetValue(path, out var node))
            {
                node = new ParamNode(s);
                parent.register_module(s, node);
                _nodes[path] = node;
            }
            parent = node;
        }
        return (ParamNode)parent;
    }


    /// <summary>Logical parameter names in IR order.</summary>
    public IReadOnlyList<string> ParameterNames => IR.Parameters.Select(p => p.Name).ToList();
    public Parameterization ParameterizationOf(string logicalName) =>
        _params.TryGetValue(logicalName, out var p) ? p : throw new SymDslException($"model {IR.Name} has no parameter {logicalName}");
    /// <summary>Logical name → the state_dict keys of its raw tensors (parameters, then buffers).</summary>
    public IReadOnlyDictionary<string, List<string>> RawKeys => _rawKeys;
    /// <summary>Raw parameter state_dict key → weight decay that replaces the optimizer's (θ of syre/perturb: their decay; of syre_diag: 0, its decay is <see cref="Penalty"/>).</summary>
    public IReadOnlyDictionary<string, double> RawWeightDecay => _rawDecay;

    public Tensor EffectiveParameter(string logicalName) => ParameterizationOf(logicalName).Effective();

    /// <summary>
    /// One optimizer step with the right weight decay for offset parameters that store P = θ + θ₀ (syre, perturb): the
    /// optimizer's weight decay acts on θ = P − θ₀, as the train block says, through one exact correction per such tensor
    /// (<see cref="OffsetStep"/>: SGD, Adam and AdamW, through .grad after <see cref="ZeroGradients"/> for SGD and Adam;
    /// other optimizers see θ itself, shifted in place for the step). Use this
    /// instead of <c>optimizer.step()</c> whenever the model has such parameters with a non-zero decay; otherwise it is just
    /// <c>optimizer.step()</c>. .grad is left as it was: the loss gradient bit for bit after <c>optimizer.zero_grad()</c>, g − λθ₀
    /// for the tensors <see cref="ZeroGradients"/> started at −λθ₀ (only a tensor that had no .grad to start from gets −λθ₀ added here).
    /// </summary>
    public void OptimizerStep(torch.optim.Optimizer optimizer)
    {
        if (Offsets is { } offsets) offsets.Step(optimizer);
        else optimizer.step();
    }

    /// <summary>
    /// Zeroes the gradients before a backward pass, in place of <c>optimizer.zero_grad()</c>. With
    /// <paramref name="lossGradients"/> false, the .grad of an offset tensor (syre, perturb: P = θ + θ₀) whose optimizer adds
    /// its weight decay λ to the gradient (SGD, Adam; not AdamW) starts at −λθ₀ instead of 0, so that after the backward pass
    /// it holds g − λθ₀ and the next <see cref="OptimizerStep"/> needs no correction pass of its own (<see cref="OffsetStep"/>,
    /// the gradient form). With <paramref name="lossGradients"/> true, or without such tensors, it is exactly
    /// <c>optimizer.zero_grad()</c> and .grad holds the loss gradient. Between this call and <see cref="OptimizerStep"/> the
    /// gradients must not be zeroed again.
    /// </summary>
    public void ZeroGradients(torch.optim.Optimizer optimizer, bool lossGradients = false)
    {
        if (Offsets is not { } offsets) { optimizer.zero_grad(); return; }
        if (lossGradients) { offsets.ForgetPrefill(); optimizer.zero_grad(); }
        else offsets.ZeroGradients(optimizer);
    }

    // Loading a state dict writes θ₀ in place: the −λθ₀ kept for ZeroGradients is computed again.
    public override nn.Module load(BinaryReader reader, bool strict = true, IList<string>? skip = null, Dictionary<string, bool>? loadedParameters = null)
    {
        _offsetStep?.Invalidate();
        return base.load(reader, strict, skip, loadedParameters);
    }

    public override (IList<string> missing_keys, IList<string> unexpected_keyes) load_state_dict(Dictionary<string, Tensor> source, bool strict = true, IList<string>? skip = null)
    {
        _offsetStep?.Invalidate();
        return base.load_state_dict(source, strict, skip);
    }

    /// <summary>The offset tensors the optimizer step corrects (null when there are none), found once.</summary>
    OffsetStep? Offsets => _offsetsFound ? _offsetStep : FindOffsets();
    OffsetStep? _offsetStep;
    bool _offsetsFound;

    OffsetStep? FindOffsets()
    {
        var offsets = _params.Values.OfType<OffsetParameterization>().Where(o => o.NeedsShift).ToArray();
        _offsetStep = offsets.Length == 0 ? null : new OffsetStep(offsets);
        _offsetsFound = true;
        return _offsetStep;
    }

    /// <summary>What <see cref="OptimizerStep"/> does to each offset tensor with <paramref name="optimizer"/>, by logical parameter name (<see cref="OffsetStep.Plan"/>; for tests).</summary>
    internal IReadOnlyDictionary<string, string> OffsetStepPlan(torch.optim.Optimizer optimizer) => Offsets?.Plan(optimizer) ?? new Dictionary<string, string>();

    /// <summary>The sum of explicit regularisation penalties (syre_diag's weighted decay) to add to the training loss; null when there are none.</summary>
    public Tensor? Penalty()
    {
        Tensor? total = null;
        foreach (var p in _penalized ??= _params.Values.OfType<OffsetParameterization>().Where(o => o.DecayIsPenalty).ToArray()) // found once: the trainer asks every step
            if (p.Penalty() is { } t) total = total is null ? t : total + t;
        return total;
    }

    OffsetParameterization[]? _penalized;

    /// <summary>Every effective parameter by logical name. Plain entries are the live parameters: do not dispose them.</summary>
    public IReadOnlyDictionary<string, Tensor> EffectiveParameters() =>
        IR.Parameters.ToDictionary(p => p.Name, p => _params[p.Name].Effective());

    /// <summary>Sets effective parameters (any subset) by logical name, without recording gradients.</summary>
    public void SetEffectiveParameters(IReadOnlyDictionary<string, Tensor> values)
    {
        foreach (var (name, value) in values) ParameterizationOf(name).SetEffective(value);
    }

    public ScalarType ParameterDType => _dtypeSource is { } p ? p.RawDType : ScalarType.Float32;
    public Device ParameterDevice => parameters().FirstOrDefault()?.device ?? CPU;

    public override Dictionary<string, Tensor> forward(Dictionary<string, Tensor> inputs) => Forward(inputs);

    /// <summary>
    /// Evaluates the graph node by node. <paramref name="captureSites"/>: site names whose values are stored in
    /// <paramref name="captured"/> (still attached to the autograd graph when gradients are enabled, so gradients
    /// w.r.t. them can be taken). Floating-point inputs are cast to the parameters' dtype.
    /// </summary>
    /// <param name="parameters">
    /// Optional effective parameters by logical name used instead of the module's own (any subset): a functional call,
    /// e.g. to take gradients w.r.t. effective parameters of a reparametrised model (pass detached copies with
    /// requires_grad) or to evaluate transformed parameters without touching the module.
    /// </param>
    public Dictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs, ISet<string>? captureSites = null, IDictionary<string, Tensor>? captured = null,
        IReadOnlyDictionary<string, Tensor>? parameters = null)
    {
        var plan = _plan ??= BuildPlan();
        var values = new Tensor[plan.Length];
        var dtype = parameters?.Values.FirstOrDefault()?.dtype ?? ParameterDType;
        var capture = captureSites is not null && captured is not null;
        var saved = _override;
        _override = parameters;
        try
        {
            foreach (var step in plan)
            {
                var v = Eval(step, values, inputs, dtype);
                values[step.Id] = v;
                if (capture && step.Site is { } site && captureSites!.Contains(site))
                    captured![site] = v;
            }
        }
        finally { _override = saved; }
        var outputs = new Dictionary<string, Tensor>(_outputs.Length);
        foreach (var (name, node) in _outputs) outputs.Add(name, values[node]);
        return outputs;
    }

    IReadOnlyDictionary<string, Tensor>? _override;

    // ------------------------------------------------------------------ the evaluation plan
    // Built once (on the first Forward, after construction): per node its op, inputs and attributes read out of the IR,
    // and for layers the resolved parameterizations, so that Forward does no string building, IR dictionary lookups
    // or LINQ per call, only tensor calls. Errors the IR lookups would raise (an unknown layer, activation or op, a
    // missing parameter) are kept and raised when the node is evaluated, with the same messages as before.

    NodeStep[]? _plan;
    readonly (string name, int node)[] _outputs;
    readonly Parameterization? _dtypeSource;

    /// <summary>A parameter a layer reads: its logical name (for functional overrides) and its parameterization, if any.</summary>
    sealed class Slot(SymModel owner, LayerIR layer, string local) : IParameterSlot
    {
        readonly string _name = $"{layer.Name}.{local}";
        readonly Parameterization? _param = owner._params.GetValueOrDefault($"{layer.Name}.{local}");
        readonly string _layerName = layer.Name;
        public Tensor Required() => Optional() ?? throw new SymDslException($"layer {_layerName} has no parameter {_name}");
        public Tensor? Optional()
        {
            if (owner._override is { } o && o.TryGetValue(_name, out var t)) return t;
            return _param?.Effective();
        }
    }

    sealed class NodeStep
    {
        public required int Id;
        public required OpKind Op;
        public required int[] Inputs;
        public string? Site;
        public NodeIR Node = null!;
        // Input
        public string? InputName;
        public long[]? InputShape;
        // Activation
        public string? Fn;
        public double Scalar; // Scale's factor
        public Func<Tensor, Tensor>? Activation; // bound once from the node's function and arguments
        // Layer: its runtime module's forward pass, bound to its parameters
        public Func<Tensor, Tensor>? LayerForward;
    }

    NodeStep[] BuildPlan()
    {
        var steps = new NodeStep[IR.Nodes.Count];
        for (var i = 0; i < IR.Nodes.Count; i++)
        {
            var node = IR.Nodes[i];
            var st = new NodeStep { Id = node.Id, Op = node.Op, Inputs = node.Inputs.ToArray(), Site = node.Site, Node = node };
            switch (node.Op)
            {
                case OpKind.Input:
                    st.InputName = node.Attr("name");
                    st.InputShape = node.Shape.Select(d => (long)d).ToArray();
                    break;
                case OpKind.Activation:
                    st.Fn = node.Attr("fn");
                    st.Activation = FunctionRuntimes.Bind(st.Fn, node.Attrs, new State(this, null));
                    break;
                case OpKind.Scale:
                    st.Scalar = node.Attrs["factor"].AsDouble();
                    break;
                case OpKind.Layer:
                    if (_layers.TryGetValue(node.Attr("layer"), out var layer))
                        st.LayerForward = LayerRuntime.Of(layer.Kind).Bind(layer, local => new Slot(this, layer, local), new State(this, layer.Name));
                    break;
            }
            steps[i] = st;
        }
        return steps;
    }

    Tensor Eval(NodeStep st, Tensor[] values, IReadOnlyDictionary<string, Tensor> inputs, ScalarType dtype)
    {
        switch (st.Op)
        {
            case OpKind.Input:
                {
                    var name = st.InputName!;
                    if (!inputs.TryGetValue(name, out var x))
                        throw new SymDslException($"model {IR.Name}: no value for input {name}");
                    var expected = st.InputShape!;
                    if (!ShapeMatches(x, expected))
                        throw new SymDslException($"model {IR.Name}: input {name} expects per-example shape [{string.Join(", ", expected)}] but got [{string.Join(", ", x.shape.Skip(1))}] (batch of {(x.dim() > 0 ? x.shape[0] : 0)})");
                    return x.is_floating_point() && x.dtype != dtype ? x.to(dtype) : x;
                }
            case OpKind.Layer:
                return st.LayerForward is { } layerForward ? layerForward(values[st.Inputs[0]]) : throw new SymDslException($"model {IR.Name}: no layer {st.Node.Attr("layer")}");
            case OpKind.Activation: return Activate(st, values[st.Inputs[0]]);
            case OpKind.Add: return values[st.Inputs[0]] + values[st.Inputs[1]];
            case OpKind.Sub: return values[st.Inputs[0]] - values[st.Inputs[1]];
            case OpKind.Mul: return values[st.Inputs[0]] * values[st.Inputs[1]];
            case OpKind.Scale: return values[st.Inputs[0]] * st.Scalar;
            case OpKind.Last: return values[st.Inputs[0]].select(1, -1);
            case OpKind.Mean: return values[st.Inputs[0]].mean([1]);
            case OpKind.Flatten: return values[st.Inputs[0]].flatten(1);
            default: throw new SymDslException($"unsupported op {st.Op}");
        }
    }

    /// <summary>x is [batch, ..expected]: one native shape query.</summary>
    static bool ShapeMatches(Tensor x, long[] expected)
    {
        var shape = x.shape;
        if (shape.Length != expected.Length + 1) return false;
        for (var i = 0; i < expected.Length; i++)
            if (shape[i + 1] != expected[i]) return false;
        return true;
    }

    static Tensor Activate(NodeStep st, Tensor x) => st.Activation!(x);

    // ------------------------------------------------------------------ initialisation

    static Tensor Initial(LayerIR layer, ParameterIR p, Generator gen)
    {
        var shape = p.Shape.Select(d => (long)d).ToArray();
        var t = empty(shape, ScalarType.Float32);
        var local = p.Name[(layer.Name.Length + 1)..];
        switch (p.Init.Kind)
        {
            case "default": LayerRuntime.Of(layer.Kind).DefaultInit(layer, local, t, gen); break;
            case "normal": Normal(t, 0, p.Init.Scale, gen); break;
            case "orthogonal":
                if (t.dim() < 2) throw new SymDslException($"parameter {p.Name}: orthogonal init needs a matrix, shape is [{string.Join(", ", shape)}]");
                Orthogonal(t, p.Init.Scale, gen); break;
            case "zeros": t.zero_(); break;
            case "ones": t.fill_(Scalars.One); break;
            case "uniform": Uniform(t, -p.Init.Scale, p.Init.Scale, gen); break;
            default: throw new SymDslException($"parameter {p.Name}: unknown init {p.Init.Kind}");
        }
        return t;
    }

    // TorchSharp's own defaults per layer kind are in Lowering/Layers/{Kind}Runtime.DefaultInit.
    // TorchSharp 0.107's nn.init.uniform_/normal_ ignore their generator argument, so draws go through rand/randn.
    internal static void Uniform(Tensor t, double low, double high, Generator gen)
    {
        using var r = rand(t.shape, generator: gen);
        t.copy_(r * (high - low) + low);
    }

    internal static void Normal(Tensor t, double mean, double std, Generator gen)
    {
        using var r = randn(t.shape, generator: gen);
        t.copy_(r * std + mean);
    }

    /// <summary>As torch.nn.init.orthogonal_ (QR of a Gaussian matrix, signs fixed by diag(R)), but with an explicit generator.</summary>
    static void Orthogonal(Tensor t, double gain, Generator gen)
    {
        using var scope = NewDisposeScope();
        long rows = t.shape[0], cols = t.numel() / rows;
        var flat = randn([rows, cols], generator: gen);
        if (rows < cols) flat = flat.t();
        var (q, r) = linalg.qr(flat);
        q = q * r.diagonal().sign().unsqueeze(0);
        if (rows < cols) q = q.t();
        t.copy_(q.reshape(t.shape) * gain);
    }
}
