using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary;

/// <summary>The two spaces of units a layer touches: the units of its input and those of its output.</summary>
public enum Port { In, Out }

/// <summary>
/// What a layer's definition tells symmetry inference about one group kind (docs/language.md, "The symmetry calculus").
/// A rule must say something about each port it has: act on it through a parameter, absorb the group there without
/// parameters, link it to the other port (one space), or block the group with the reason. A port the rule leaves
/// unsaid is treated as "cannot prove".
/// </summary>
public interface ISpaceRule
{
    /// <summary>The layer the rule is for.</summary>
    LayerIR Layer { get; }
    /// <summary>Whether the layer has the parameter "{layer}.{local}" (e.g. no "bias" when bias = false).</summary>
    bool Has(string local);
    /// <summary>
    /// The group acting on <paramref name="port"/>'s units moves parameter "{layer}.{local}" along <paramref name="axis"/>
    /// in <paramref name="role"/> (<see cref="ActionRole"/>); <paramref name="unit"/> entries per unit (attention heads).
    /// </summary>
    void Act(Port port, string local, int axis, ActionRole role, int unit = 1);
    /// <summary>The layer is invariant under the group on <paramref name="port"/> without any parameter moving (a normalisation
    /// absorbs a scale); <paramref name="exact"/> false when only approximately (a LayerNorm's eps).</summary>
    void Absorb(Port port, bool exact = true);
    /// <summary>Input and output units are one space for this kind (a LayerNorm keeps a permutation).</summary>
    void Link();
    /// <summary>The group cannot act on <paramref name="port"/> through this layer. <paramref name="necessary"/>: the failure
    /// is generic (a counterexample exists for almost every parameter value), so the symmetry does not hold; otherwise the
    /// calculus only cannot prove it.</summary>
    void Block(Port port, string why, bool necessary);
    /// <summary>The group acting on <paramref name="port"/>'s units also moves buffer "{layer}.{local}" (a BatchNorm's running
    /// statistics) along <paramref name="axis"/>; recorded in <see cref="SymmetryIR.BufferActions"/>, it says nothing about
    /// whether the group holds (call <see cref="Absorb"/> or <see cref="Act"/> for that).</summary>
    void ActOnBuffer(Port port, string local, int axis, ActionRole role) { }
}

/// <summary>A symmetry that lives inside one layer (the query–key product of attention): its group and parameter action.</summary>
/// <param name="Part">The member spelled after the layer name: "qk" in <c>rotation(attn.qk)</c>.</param>
public sealed record LayerSymmetry(SymmetryKind Kind, string Part, int Dim, int Blocks, IReadOnlyList<ParamActionIR> Actions);

/// <summary>
/// One layer kind's definition, read by every stage: its signature and validation (the front end), its shape rule and
/// parameters (ModelBuilder), how each group kind acts on its parameters at its input and output units and which
/// symmetries live inside it (symmetry inference), and its C# emission (CSharpEmitter). The TorchSharp lowering sits in
/// SymDsl.Torch/Lowering/Layers/{Kind}Runtime.cs. One subclass per kind in Vocabulary/Layers/ (docs/language.md,
/// "Adding a layer kind").
/// </summary>
public abstract class LayerDefinition
{
    public abstract LayerKind Kind { get; }

    /// <summary>The name written in <c>layer NAME = Kind(…)</c>.</summary>
    public string Name => Kind.ToString();

    // ---------------------------------------------------------------- front end

    /// <summary>The arguments, with their defaults and ranges (sizes are dimensions: SYM0303 when not positive).</summary>
    public abstract IReadOnlyList<ArgSpec> Signature { get; }

    /// <summary>Checks the bound arguments together (each one is already checked against its range); null when they are valid.</summary>
    public virtual Diagnostic? Validate(IReadOnlyDictionary<string, Value> args, SourceSpan span) => null;

    /// <summary>The shape of the layer's output for one example, or null after reporting why the input does not fit.</summary>
    public abstract IReadOnlyList<int>? OutputShape(LayerApplication application);

    /// <summary>The layer's parameters, in order, with shapes as TorchSharp stores them and their initialisation.</summary>
    public abstract void Parameters(ParameterList parameters);

    /// <summary>The vocabulary when the layer reads token ids (Embedding): inputs are drawn below it; null otherwise.</summary>
    public virtual long? TokenVocabulary(LayerIR layer) => null;

    /// <summary>Whether the layer, applied to a per-example input of <paramref name="inputShape"/>, needs more than one example
    /// in a training batch (a BatchNorm on [C] takes statistics over the batch alone); the trainer refuses a batch size that
    /// would give it a single example.</summary>
    public virtual bool NeedsSeveralExamples(IReadOnlyList<int> inputShape) => false;

    /// <summary>The local name of W when the layer computes y = W x (+ b) and nothing else (Linear's "weight"), null otherwise.
    /// CRH alignment reads it.</summary>
    public virtual string? LinearWeight => null;

    // ---------------------------------------------------------------- C# emission

    /// <summary>The type of the layer's field in the generated module.</summary>
    public abstract string CSharpFieldType(LayerIR layer, CSharpLayerContext context);

    /// <summary>The expression that constructs the layer's field.</summary>
    public abstract string CSharpConstruct(LayerIR layer, CSharpLayerContext context);

    /// <summary>The expression that applies the layer to the C# variable <paramref name="input"/> in the generated forward.</summary>
    public virtual string CSharpForward(LayerIR layer, string input, CSharpLayerContext context) => $"{context.Field(layer)}.forward({input})";

    /// <summary>Whether parameters with a non-default init are initialised after construction, through the field's
    /// parameters (Linear, Embedding); otherwise the constructor takes care of them.</summary>
    public virtual bool CSharpInitialisesAfterConstruction => false;

    /// <summary>Names of the generated module that fields must avoid (a nested class such as "SelfAttentionBlock").</summary>
    public virtual IReadOnlyList<string> CSharpReservedNames => [];

    /// <summary>A prefix of nested class names that fields must not start with ("OdeRnn_").</summary>
    public virtual string? CSharpReservedPrefix => null;

    /// <summary>Writes the nested classes the layers of this kind in the model need (none by default).</summary>
    public virtual void CSharpHelperClasses(IReadOnlyList<LayerIR> layers, CSharpLayerContext context) { }

    // ---------------------------------------------------------------- Python emission (symc export --to pytorch)

    /// <summary>The PyTorch expression that constructs the layer's submodule in the twin's <c>__init__</c>; its state_dict keys
    /// must be the layer's parameter (and buffer) names after the layer's (those of weights.dat).</summary>
    public abstract string PythonConstruct(LayerIR layer, PythonLayerContext context);

    /// <summary>The expression that applies the layer to the Python variable <paramref name="input"/> in the twin's forward.</summary>
    public virtual string PythonForward(LayerIR layer, string input, PythonLayerContext context) => $"{context.Field(layer)}({input})";

    /// <summary>Writes the module classes the layers of this kind need (SelfAttention, OdeRnn), once per file, when the file
    /// uses the kind; none by default.</summary>
    public virtual void PythonHelperModules(PythonLayerContext context) { }

    /// <summary>Class names the helper modules define (fields and block classes avoid them).</summary>
    public virtual IReadOnlyList<string> PythonReservedNames => [];

    /// <summary>Every layer definition, in the order of <see cref="LayerKind"/>.</summary>
    public static IEnumerable<LayerDefinition> All => byKind.Values.OrderBy(d => d.Kind);

    /// <summary>The definition named <paramref name="name"/> (exactly as written), or null.</summary>
    public static LayerDefinition? Find(string name) => byKind.Values.FirstOrDefault(d => d.Name == name);

    // These statics must stay above byKind: the definitions' constructors (run by byKind's initialiser) read them.
    /// <summary>A size argument: a required int that is a dimension.</summary>
    protected static ArgSpec Size(string name) => ArgSpec.Req(name, ArgType.Int, Domain.Dimension);
    protected static readonly Value True = new Value.Bool(true);
    protected static readonly ArgSpec InitArg = new("init", ArgType.Init, new Value.List([new Value.Name("default"), new Value.Float(0)]));
    protected static readonly ArgSpec BiasInitArg = new("bias_init", ArgType.Init, new Value.List([new Value.Name("default"), new Value.Float(0)]));

    // ---------------------------------------------------------------- symmetry inference

    /// <summary>Whether the layer's input has units a group can act on (false for Embedding: token ids).</summary>
    public virtual bool HasInputUnits => true;

    /// <summary>
    /// The axis of the layer's per-example input and output that holds its units: -1 (the last) by default (Linear,
    /// LayerNorm, …), 0 for a channels-first layer (Conv1d/Conv2d on [C, L]/[C, H, W]; BatchNorm). Negative counts from the
    /// end. Symmetry inference gives the layer's output value this unit axis; an input whose units lie on another axis is
    /// not linked to the layer's input port (docs/language.md, "The unit axis").
    /// </summary>
    public virtual int UnitAxis => -1;

    /// <summary>Size of the input units (the <see cref="UnitAxis"/> of its input).</summary>
    public abstract int InputUnits(LayerIR layer);

    /// <summary>Size of the output units (the <see cref="UnitAxis"/> of its output).</summary>
    public abstract int OutputUnits(LayerIR layer);

    /// <summary>How group <paramref name="kind"/> acts at this layer's ports.</summary>
    public abstract void Relate(SymmetryKind kind, ISpaceRule rule);

    /// <summary>Symmetries inside the layer (none by default).</summary>
    public virtual IEnumerable<LayerSymmetry> Internal(LayerIR layer) => [];

    /// <summary>The members <see cref="Internal"/> may name (for error messages), e.g. "qk", "vo", "heads".</summary>
    public virtual IReadOnlyList<string> InternalParts => [];

    static readonly Dictionary<LayerKind, LayerDefinition> byKind = typeof(LayerDefinition).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(LayerDefinition)) && !t.IsAbstract)
        .Select(t => (LayerDefinition)Activator.CreateInstance(t)!)
        .ToDictionary(d => d.Kind);

    /// <summary>The definition of <paramref name="kind"/> (every kind has one: a test checks it).</summary>
    public static LayerDefinition Of(LayerKind kind)
        => byKind.TryGetValue(kind, out var d) ? d : throw new InvalidOperationException($"layer kind {kind} has no definition in Vocabulary/Layers");

    /// <summary>The common rule of a layer that maps its input units linearly to its output units through parameters:
    /// every linear group on the input is absorbed by <paramref name="inputs"/> (Inverse along their input axis), and every
    /// linear group on the output is emitted by <paramref name="outputs"/> (Forward along their output axis).</summary>
    protected static void LinearMap(SymmetryKind kind, ISpaceRule rule, IEnumerable<(string Local, int Axis)> inputs, IEnumerable<(string Local, int Axis)> outputs)
    {
        var scalar = kind == SymmetryKind.Scale;
        foreach (var (local, axis) in inputs)
            if (rule.Has(local)) rule.Act(Port.In, local, scalar ? -1 : axis, ActionRole.Inverse);
        foreach (var (local, axis) in outputs)
            if (rule.Has(local)) rule.Act(Port.Out, local, scalar ? -1 : axis, ActionRole.Forward);
    }

    /// <summary>True for the kinds that act on units linearly (every kind but translation).</summary>
    protected static bool IsLinearGroup(SymmetryKind kind) => kind != SymmetryKind.Translation;

}
