using SymDsl.Text;

namespace SymDsl.IR;

// The checked intermediate representation: what the semantic model hands to every later stage
// (JSON artifact, C# emission, TorchSharp lowering, training). Every hyper-parameter is already
// evaluated, every `for` block unrolled, every shape known, every name resolved. Nothing here
// refers to syntax; spans are kept only to locate run-time errors.
//
// Conventions
// - Shapes are per example: the batch dimension is implicit and leading at run time.
// - Parameter names are the logical (effective) parameters, "<layer>.<param>", e.g. "fc1.weight".
//   They are the state_dict keys of the lowered module and the names the generated C# uses.
// - Names produced by `for` blocks are spelled as in the source with the index evaluated: "fc[2]".
//   Lowering sanitises them where an identifier is needed ("fc_2").

/// <summary>One compiled .sym file.</summary>
public sealed record ProgramIR(string SourcePath, IReadOnlyList<ModelIR> Models, IReadOnlyList<TrainIR> Trains)
{
    public ModelIR Model(string name) => Models.First(m => m.Name == name);

    /// <summary>
    /// The train block called <paramref name="name"/> (<see cref="TrainIR.Name"/>: the NAME of <c>train MODEL as NAME</c>,
    /// else the model's name); with null, the file's only block. Throws <see cref="TrainSelectionException"/> (a usage
    /// error: the message lists the names) when there is no block of that name, several of that name, or several blocks
    /// and no name; <see cref="SymDsl.Diagnostics.SymDslException"/> when the file has no train block at all.
    /// </summary>
    public TrainIR Train(string? name)
    {
        var file = System.IO.Path.GetFileName(SourcePath);
        var names = string.Join(", ", Trains.Select(t => t.Name).Distinct());
        if (Trains.Count == 0)
            throw new SymDsl.Diagnostics.SymDslException($"{file} has no train block; add `train {Models.FirstOrDefault()?.Name ?? "MODEL"} {{ … }}`");
        if (name is null)
            return Trains.Count == 1 ? Trains[0]
                : throw new TrainSelectionException($"{file} has {Trains.Count} train blocks; choose one with --train NAME ({names})");
        var matches = Trains.Where(t => t.Name == name).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new TrainSelectionException($"{file} has no train block called '{name}'; its train blocks are: {names}"),
            _ => throw new TrainSelectionException($"{file} has {matches.Count} train blocks called '{name}'; name them apart with `train {matches[0].Model} as NAME {{ … }}`"),
        };
    }

    /// <summary>
    /// The model a train block trains, with that block's symmetries (the model's plus those its loss adds). A block built
    /// by hand without a symmetry list keeps the model's.
    /// </summary>
    public ModelIR ModelFor(TrainIR train)
    {
        var model = Model(train.Model);
        // Only a block without a list keeps the model's: a checked block whose list is empty (an mse block of a model
        // whose only symmetry is a cross-entropy block's translation) has no symmetries.
        return ReferenceEquals(train.Symmetries, TrainIR.NoSymmetryList) ? model : model with { Symmetries = train.Symmetries };
    }
}

/// <summary>A train block that cannot be selected (<see cref="ProgramIR.Train"/>): a usage error, exit code 2 in <c>symc</c>.</summary>
public sealed class TrainSelectionException(string message) : Exception(message);

public sealed record ModelIR(
    string Name,
    IReadOnlyDictionary<string, Value> HyperParameters,
    IReadOnlyList<InputIR> Inputs,
    IReadOnlyList<LayerIR> Layers,
    IReadOnlyList<NodeIR> Nodes,
    IReadOnlyList<OutputIR> Outputs,
    IReadOnlyList<SymmetryIR> Symmetries,
    SourceSpan Span)
{
    public NodeIR Node(int id) => Nodes[id];

    /// <summary>The last node named <paramref name="name"/>, or null. O(1) after the first call (see <see cref="ModelIndex"/>).</summary>
    public NodeIR? Site(string name)
        => name is not null && Index().Sites.TryGetValue(name, out var n) ? n
         : name is null ? Nodes.LastOrDefault(n => n.Site == name) : null;

    /// <summary>The first layer named <paramref name="name"/>; throws like <c>First</c> when there is none. O(1) after the first call.</summary>
    public LayerIR Layer(string name)
        => name is not null && Index().Layers.TryGetValue(name, out var l) ? l : Layers.First(l => l.Name == name);

    /// <summary>The first layer named <paramref name="name"/>, or null.</summary>
    internal LayerIR? FindLayer(string name)
        => name is not null && Index().Layers.TryGetValue(name, out var l) ? l : Layers.FirstOrDefault(l => l.Name == name);

    // Name lookups are per node in symmetry inference and in the TorchSharp forward pass. The index lives outside the
    // record (keyed by reference) so that record equality, hashing, `with` and printing are unchanged; it is rebuilt
    // if the node or layer list is not the one it was built from.
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ModelIR, ModelIndex> indexes = new();

    ModelIndex Index()
    {
        if (indexes.TryGetValue(this, out var index) && index.IsFor(this)) return index;
        index = new ModelIndex(this);
        indexes.AddOrUpdate(this, index);
        return index;
    }

    sealed class ModelIndex
    {
        readonly IReadOnlyList<NodeIR> nodes;
        readonly int nodeCount;
        readonly IReadOnlyList<LayerIR> layers;
        readonly int layerCount;
        /// <summary>Site name → the last node with that name (as <c>LastOrDefault</c>).</summary>
        public readonly Dictionary<string, NodeIR> Sites;
        /// <summary>Layer name → the first layer with that name (as <c>First</c>).</summary>
        public readonly Dictionary<string, LayerIR> Layers;

        public ModelIndex(ModelIR model)
        {
            nodes = model.Nodes;
            layers = model.Layers;
            nodeCount = nodes.Count;
            layerCount = layers.Count;
            Sites = new Dictionary<string, NodeIR>(nodeCount);
            foreach (var n in nodes) if (n.Site is not null) Sites[n.Site] = n;
            Layers = new Dictionary<string, LayerIR>(layerCount);
            foreach (var l in layers) if (l.Name is not null) Layers.TryAdd(l.Name, l);
        }

        public bool IsFor(ModelIR model)
            => ReferenceEquals(model.Nodes, nodes) && model.Nodes.Count == nodeCount
            && ReferenceEquals(model.Layers, layers) && model.Layers.Count == layerCount;
    }
    public IEnumerable<ParameterIR> Parameters => Layers.SelectMany(l => l.Parameters);
    public long ParameterCount => Parameters.Sum(p => p.Shape.Aggregate(1L, (a, d) => a * d));

    // Added by the front end (issue 3) for C# emission; the TorchSharp lowering need not read them.

    /// <summary>
    /// Per layer name, per argument key: the argument as written in terms of hyper-parameters, after loop variables were
    /// substituted (e.g. width * 2), as a tree (<see cref="HyperExpr"/>) that the C# emitter renders. Only for int/float/bool
    /// arguments that mention a hyper-parameter; the value in <see cref="LayerIR.Args"/> is authoritative.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, HyperExpr>> ArgExpressions { get; init; } = new Dictionary<string, IReadOnlyDictionary<string, HyperExpr>>();

    /// <summary>
    /// Hyper-parameters that fix the structure of the graph (for-loop bounds, input shapes, indices, scale factors, …)
    /// rather than only feeding layer arguments: generated code cannot vary them without recompiling.
    /// </summary>
    public IReadOnlyList<string> StructuralHyperParameters { get; init; } = [];

    /// <summary>
    /// The block instances this model declares (<c>layer b = Block(d = 32)</c>), in declaration order. Their layers, parameters
    /// and nodes are already part of this model's flat lists under qualified names (<c>b.fc1</c>, <c>b.fc1.weight</c>, site
    /// <c>b.h</c>): every stage but the C# emitter (one module class per block) reads the flat graph only.
    /// </summary>
    public IReadOnlyList<BlockIR> Blocks { get; init; } = [];
}

/// <summary>
/// A model used as a block: <c>layer b = Block(d = 32)</c> applied as <c>b(x)</c>. <see cref="Instance"/> is the qualified
/// prefix of its names ("b", "blk[2]"); <see cref="Model"/> the model it instantiates, with <see cref="HyperArguments"/> (every
/// hyper-parameter of the block, defaults filled in); <see cref="Layers"/> the qualified names of its layers in this model
/// (nested blocks' included); <see cref="Nodes"/> the ids of its nodes in this model (contiguous, empty when never applied);
/// <see cref="Inputs"/> the nodes of this model fed to its inputs in declaration order; <see cref="Outputs"/> its outputs by
/// their names in the block and their nodes here. <see cref="Definition"/> is the block's own graph with unqualified names
/// (its <see cref="ModelIR.Blocks"/> are the nested instances), which the C# emitter turns into a module class.
/// </summary>
public sealed record BlockIR(
    string Instance,
    string Model,
    IReadOnlyDictionary<string, Value> HyperArguments,
    IReadOnlyList<string> Layers,
    IReadOnlyList<int> Nodes,
    IReadOnlyList<int> Inputs,
    IReadOnlyList<OutputIR> Outputs,
    SourceSpan Span)
{
    public required ModelIR Definition { get; init; }
}

public enum ElementType { Float32, Int64 }

/// <summary><c>input x: [64]</c>. Each train block binds it to a data field (<see cref="TrainIR.InputBindings"/>).</summary>
public sealed record InputIR(string Name, IReadOnlyList<int> Shape, ElementType Type, SourceSpan Span);

/// <summary>
/// A layer kind, by the name a .sym file writes (<c>Linear</c>). Its definition (Vocabulary/Layers) owns it; a new kind is
/// <c>new LayerKind("Conv2d", …)</c> in its own definition, with no list to extend here. The built-in kinds have names below
/// for code and tests that refer to them; <see cref="Order"/> keeps listings (docs, generated code) in a stable order.
/// </summary>
public readonly record struct LayerKind(string Name, int Order) : IComparable<LayerKind>
{
    public static readonly LayerKind Linear = new("Linear", 0);
    public static readonly LayerKind LayerNorm = new("LayerNorm", 1);
    public static readonly LayerKind Embedding = new("Embedding", 2);
    public static readonly LayerKind SelfAttention = new("SelfAttention", 3);
    public static readonly LayerKind RNN = new("RNN", 4);

    public int CompareTo(LayerKind other) => Order != other.Order ? Order.CompareTo(other.Order) : string.CompareOrdinal(Name, other.Name);
    public override string ToString() => Name;
}

/// <summary>
/// <c>layer NAME = Kind(args)</c>. Args hold every argument with defaults filled in (keys as in docs/language.md).
/// Parameters, by kind (shapes as TorchSharp stores them):
/// <list type="bullet">
/// <item>Linear(in, out, bias): weight [out, in], bias [out]</item>
/// <item>LayerNorm(n, eps, affine): weight [n], bias [n]</item>
/// <item>Embedding(vocab, d): weight [vocab, d]</item>
/// <item>SelfAttention(d, heads, causal, bias): q.weight, k.weight, v.weight, o.weight [d, d]; q.bias, k.bias, v.bias, o.bias [d].
///   Head h owns rows h*dh..(h+1)*dh-1 of q/k/v.weight and the same columns of o.weight, dh = d / heads.</item>
/// <item>RNN(in, hidden, activation, integrator, dt, bias): input.weight [hidden, in], hidden.weight [hidden, hidden], bias [hidden].
///   Input [T, in] gives [T, hidden]; the cell is one integrator step of dh/dt = -h + act(hidden.weight h + input.weight x_t + bias), h_0 = 0.</item>
/// </list>
/// </summary>
public sealed record LayerIR(string Name, LayerKind Kind, IReadOnlyDictionary<string, Value> Args, IReadOnlyList<ParameterIR> Parameters, SourceSpan Span)
{
    /// <summary>Whether the layer has the parameter "{Name}.{local}" (no "bias" when bias = false).</summary>
    public bool HasParameter(string local) => Parameters.Any(p => p.Name == $"{Name}.{local}");

    public ParameterIR Parameter(string local)
    {
        // The first parameter named "{Name}.{local}", compared without building that string (called per node by the back end).
        if (Name is not null && local is not null)
            foreach (var p in Parameters)
                if (p.Name is { } n && n.Length == Name.Length + 1 + local.Length && n[Name.Length] == '.'
                    && n.StartsWith(Name, StringComparison.Ordinal) && n.EndsWith(local, StringComparison.Ordinal))
                    return p;
        return Parameters.First(p => p.Name == $"{Name}.{local}");
    }
}

/// <summary>A logical parameter. <see cref="Name"/> is "layer.local" (e.g. "fc1.weight", "attn.q.weight").</summary>
public sealed record ParameterIR(string Name, IReadOnlyList<int> Shape, InitSpec Init);

/// <summary>
/// Initialisation: "default" (TorchSharp's own for the layer), "normal" (N(0, Scale²) each entry),
/// "orthogonal" (gain Scale), "zeros", "ones", "uniform" (U(-Scale, Scale)).
/// Biases use "default" unless the layer's <c>init</c> names <c>bias_init</c>.
/// </summary>
public sealed record InitSpec(string Kind, double Scale)
{
    public static readonly InitSpec Default = new("default", 0);
}

public enum OpKind
{
    /// <summary>Attrs: name. The model input of that name.</summary>
    Input,
    /// <summary>Attrs: layer. Applies the layer to its one input (to the last dimension for Linear/LayerNorm).</summary>
    Layer,
    /// <summary>Attrs: fn (relu, leaky_relu, tanh, sigmoid, gelu, sin, identity, softmax); leaky_relu: negative_slope; softmax: dim.</summary>
    Activation,
    /// <summary>Elementwise, same shapes.</summary>
    Add, Sub, Mul,
    /// <summary>Attrs: factor (Float). x * factor.</summary>
    Scale,
    /// <summary>[T, d] → [d]: the last step of a sequence.</summary>
    Last,
    /// <summary>[T, d] → [d]: the mean over the sequence.</summary>
    Mean,
    /// <summary>[a, b, …] → [a*b*…].</summary>
    Flatten,
}

/// <summary>
/// One node of the op graph, in topological order (Id = index in <see cref="ModelIR.Nodes"/>).
/// <see cref="Site"/> is the name the source gave the value (<c>h = relu(fc1(x))</c> names node "h"), else null.
/// </summary>
public sealed record NodeIR(int Id, OpKind Op, IReadOnlyList<int> Inputs, IReadOnlyList<int> Shape, ElementType Type, string? Site, IReadOnlyDictionary<string, Value> Attrs, SourceSpan Span)
{
    public string Attr(string key) => Attrs[key].AsText();
}

public sealed record OutputIR(string Name, int Node);

// ---------------------------------------------------------------- symmetries

public enum SymmetryKind { Permutation, Rescale, Sign, Rotation, Translation, Scale }

/// <summary>How one parameter moves under a group element g acting on the n units of the symmetry.</summary>
public enum ActionRole
{
    /// <summary>
    /// The units lie along <see cref="ParamActionIR.Axis"/> and are acted on directly:
    /// permutation: reorder by π; rescale: multiply unit i by c_i; sign: multiply by s_i;
    /// rotation: v' = A v along the axis (W' = A W when Axis = 0); scale: multiply the whole tensor by c (Axis = -1).
    /// </summary>
    Forward,
    /// <summary>
    /// The consumer side: permutation: reorder by the same π; rescale: divide unit i by c_i; sign: multiply by s_i;
    /// rotation: v' = A⁻ᵀ v along the axis (V' = V A⁻¹ when Axis = 1).
    /// </summary>
    Inverse,
    /// <summary>translation: add c to every entry (b' = b + c·1).</summary>
    Shift,
}

/// <param name="Unit">Entries per unit along <see cref="Axis"/>: unit i spans entries i·Unit … (i+1)·Unit − 1 (an attention head
/// spans d/heads rows); 1 for one entry per unit.</param>
public sealed record ParamActionIR(string Parameter, int Axis, ActionRole Role, int Unit = 1);

/// <summary>
/// A parameter symmetry at a site. <see cref="Dim"/> is the number of units the group acts on per block
/// (n for permutation/rescale/sign/rotation, 1 for translation and scale); <see cref="Blocks"/> is the number of
/// independent blocks (attention heads for rotation(attn.qk) / rotation(attn.vo), 1 otherwise); along an axis of
/// size Blocks*Dim, block b holds entries b*Dim .. (b+1)*Dim-1.
/// <see cref="Name"/> is the declared name (<c>symmetry perm : permutation(h)</c>) or, when only inferred,
/// "kind(site)". <see cref="Target"/> is the site as written: "h", "attn.qk", "attn.vo".
/// </summary>
public sealed record SymmetryIR(
    string Name,
    SymmetryKind Kind,
    string Target,
    int Dim,
    int Blocks,
    IReadOnlyList<ParamActionIR> Actions,
    bool Declared,
    bool Inferred,
    SourceSpan Span)
{
    public IEnumerable<string> Parameters => Actions.Select(a => a.Parameter).Distinct();

    /// <summary>False when the symmetry holds only approximately (a scale absorbed by a LayerNorm with eps &gt; 0).</summary>
    public bool Exact { get; init; } = true;

    /// <summary>
    /// How the group moves the layers' buffers (a BatchNorm's running statistics, "bn.running_mean"), so that g applied to a
    /// trained model keeps its evaluation-mode function: the same roles as <see cref="Actions"/> (two Forward actions on one
    /// buffer multiply it by c², as a variance scales). Empty for models without buffers. Buffers are not parameters: the
    /// regularizers, diagnostics and <see cref="Parameters"/> never see them.
    /// </summary>
    public IReadOnlyList<ParamActionIR> BufferActions { get; init; } = NoBufferActions;

    internal static readonly IReadOnlyList<ParamActionIR> NoBufferActions = Array.Empty<ParamActionIR>();
}

// ---------------------------------------------------------------- training

/// <summary>
/// A <c>train MODEL { … }</c> (or <c>train MODEL as NAME { … }</c>) block, checked against its model.
/// <see cref="Name"/> is the NAME after <c>as</c>, else the model's name: what <c>symc train --train</c> selects
/// (see <see cref="ProgramIR.Train"/>).
/// </summary>
public sealed record TrainIR(
    string Model,
    DataIR Data,
    LossIR Loss,
    OptimizerIR Optimizer,
    ScheduleIR? Schedule,
    int Batch,
    int? Epochs,
    int? Steps,
    long Seed,
    int LogEvery,
    int? CheckpointEvery,
    IReadOnlyList<BreakIR> Breaks,
    IReadOnlyList<DiagnoseIR> Diagnostics,
    IReadOnlyList<InduceIR> Induces,
    SourceSpan Span)
{
    /// <summary>The block's name: the NAME of <c>train MODEL as NAME</c>, else the model's name.</summary>
    public string Name { get; init; } = Model;

    /// <summary>True when the block was named with <c>as NAME</c> (else <see cref="Name"/> is the model's name).</summary>
    public bool Named { get; init; }

    /// <summary>
    /// Model input → the data field it reads, decided once by the checker (docs/language.md, "Data sources"): an input
    /// named like a field reads that field; a model with one input reads a source's one feature field whatever the names.
    /// Every later stage (training, comparison) reads this record; none matches names again.
    /// </summary>
    public IReadOnlyDictionary<string, string> InputBindings { get; init; } = new Dictionary<string, string>();

    /// <summary>The data field model input <paramref name="input"/> reads (<see cref="InputBindings"/>).</summary>
    public string FieldOf(string input)
        => InputBindings.TryGetValue(input, out var field) ? field
         : throw new InvalidOperationException($"train block '{Name}' records no data field for input '{input}' (TrainIR.InputBindings)");

    /// <summary>
    /// The symmetries that hold for this block: the model's loss-independent ones and those its loss adds (translation of
    /// the logits a cross-entropy reads). Breaks, diagnostics and verification of this block read this list.
    /// </summary>
    public IReadOnlyList<SymmetryIR> Symmetries { get; init; } = NoSymmetryList;

    /// <summary>The block's <c>teleport G, … every N steps</c> clauses (none by default).</summary>
    public IReadOnlyList<TeleportIR> Teleports { get; init; } = [];

    /// <summary>The default of <see cref="Symmetries"/> (a block built by hand): <see cref="ProgramIR.ModelFor"/> then keeps the model's list.</summary>
    internal static readonly IReadOnlyList<SymmetryIR> NoSymmetryList = new List<SymmetryIR>().AsReadOnly();
}

/// <summary>
/// <c>data KIND(args)</c>: digits, csv, idx, fashion_mnist, teacher, lowrank_regression. Args with defaults filled in;
/// path arguments are absolute (resolved against the .sym file's folder). A data source yields named fields
/// (e.g. <c>x</c> and <c>label</c>); model inputs bind to fields as <see cref="TrainIR.InputBindings"/> records, the loss
/// target to its field.
/// </summary>
public sealed record DataIR(string Kind, IReadOnlyDictionary<string, Value> Args, SourceSpan Span);

/// <summary><c>loss cross_entropy(logits, label)</c>: Kind, the model output, the data field.</summary>
public sealed record LossIR(string Kind, string Output, string Target, SourceSpan Span);

/// <summary>sgd(lr, momentum, weight_decay), adam(lr, weight_decay, beta1, beta2), adamw(…). Defaults filled in.</summary>
public sealed record OptimizerIR(string Kind, IReadOnlyDictionary<string, Value> Args, SourceSpan Span);

/// <summary><c>schedule KIND(args)</c>: constant, step(every, gamma), cosine(min_lr), warmup(steps) — see docs/language.md.</summary>
public sealed record ScheduleIR(string Kind, IReadOnlyDictionary<string, Value> Args, SourceSpan Span);

/// <summary>
/// <c>break METHOD(args) on SYM, …</c>. <see cref="Parameters"/>: the logical parameters the named symmetries act on
/// (the only ones the regularizer touches).
/// </summary>
public sealed record BreakIR(string Method, IReadOnlyDictionary<string, Value> Args, IReadOnlyList<string> Symmetries, IReadOnlyList<string> Parameters, SourceSpan Span);

/// <summary>
/// One metric of <c>diagnose m1(t), m2(t) every N steps</c>. Targets as written ("scale", "h", "fc1.weight");
/// <see cref="TargetKinds"/> says what each resolved to: "symmetry", "site" or "parameter".
/// </summary>
public sealed record DiagnoseIR(string Metric, IReadOnlyList<string> Targets, IReadOnlyList<string> TargetKinds, IReadOnlyDictionary<string, Value> Args, int Every, SourceSpan Span)
{
    /// <summary>The metrics.jsonl key prefix: "rank(fc1.weight)".</summary>
    public string Key => $"{Metric}({string.Join(",", Targets)})";
}

/// <summary>
/// <c>teleport G1, G2 every N steps</c>: before the step that follows k·N completed steps (k = 0, 1, …), the effective
/// parameters move along the groups of <see cref="Symmetries"/> (names in <see cref="TrainIR.Symmetries"/>; continuous
/// kinds only: rescale, scale, rotation as GL(n)) to a point of larger gradient norm on that step's batch, with the loss
/// unchanged (docs/language.md, "teleport"). <see cref="Groups"/> spells each as written (<c>rescale(h)</c>).
/// </summary>
public sealed record TeleportIR(IReadOnlyList<string> Symmetries, IReadOnlyList<string> Groups, int Every, SourceSpan Span);

/// <summary><c>induce sparsity on P</c> (P = u ⊙ v) or <c>induce lowrank on P</c> (P = U Vᵀ).</summary>
public sealed record InduceIR(string Structure, string Parameter, IReadOnlyDictionary<string, Value> Args, SourceSpan Span);
