using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Syntax;
using SymDsl.Text;
using SymDsl.Vocabulary;

namespace SymDsl.Semantics;

/// <summary>A <c>symmetry NAME : kind(target)</c> after unrolling, not yet checked.</summary>
public sealed record DeclaredSymmetry(string Name, string Kind, SourceSpan KindSpan, string? Target, SourceSpan TargetSpan, SourceSpan Span)
{
    /// <summary>For a symmetry a block declares, re-checked in the model that uses it: where the block is applied (<c>b(x)</c>).</summary>
    public SourceSpan? Use { get; init; }
    /// <summary>For a symmetry a block declares: the instance ("b") and the block's model ("Block").</summary>
    public (string Instance, string Model)? Block { get; init; }
}

/// <summary>
/// The models a model may use as blocks (<c>layer b = Block(d = 32)</c>): every model of the file and of its imports, and the
/// blocks already built for one (model, hyper-arguments) pair. One per compilation.
/// </summary>
public sealed class ModelLibrary(IReadOnlyDictionary<string, ModelDecl> models, List<Diagnostic> root)
{
    public IReadOnlyDictionary<string, ModelDecl> Models => models;
    /// <summary>The compilation's diagnostics: a recursion is reported there once, at the line that closes it.</summary>
    internal List<Diagnostic> Root => root;
    internal readonly Dictionary<string, (CheckedModel Model, List<Diagnostic> Diagnostics)> Built = new();

    /// <summary>The models used as blocks anywhere in <paramref name="decls"/> (the kind of some <c>layer</c> statement).</summary>
    public static HashSet<string> UsedAsBlocks(IEnumerable<ModelDecl> decls)
    {
        var used = new HashSet<string>();
        void Walk(IEnumerable<ModelStmt> body)
        {
            foreach (var st in body)
                if (st is LayerStmt l) used.Add(l.Kind.Text);
                else if (st is ForStmt f) Walk(f.Body);
        }
        foreach (var d in decls) Walk(d.Body);
        return used;
    }
}

/// <summary>A model after name binding, hyper-parameter evaluation, unrolling and shape inference, before symmetry inference.</summary>
/// <param name="Unresolved">Sites whose definition already failed with an error (a syntax or shape error): later references
/// to them, e.g. in a <c>symmetry</c> declaration, add no errors of their own.</param>
public sealed record CheckedModel(ModelIR Model, IReadOnlyList<DeclaredSymmetry> Declared, IReadOnlyDictionary<string, int> LayerUses, bool HasErrors,
    IReadOnlySet<string> Unresolved);

/// <summary>
/// Checks one model: hyper-parameters (with overrides), names, <c>for</c> unrolling, layer arguments, shapes.
/// Produces the op graph of <see cref="ModelIR"/> (symmetries are added by SymmetryInference).
/// </summary>
public sealed class ModelBuilder
{
    public const int MaxUnrolledStatements = 100_000;

    static readonly string[] Activations = Vocabulary.Functions.Names.ToArray();
    static readonly string[] Reductions = ["last", "mean", "flatten"];
    static readonly string[] LayerKinds = LayerDefinition.All.Select(d => d.Name).ToArray();
    static readonly string[] HyperTypes = ["int", "float", "bool", "string"];

    enum EntityKind { Input, Layer, Site, Symmetry, Block }
    sealed record Entity(EntityKind Kind, int Node, SourceSpan Span);

    readonly ModelDecl decl;
    readonly List<Diagnostic> diagnostics;
    readonly int errorsBefore;
    readonly IReadOnlyDictionary<string, string> overrides;
    readonly HashSet<string> usedOverrides;

    readonly Dictionary<string, Value> hyper = new();
    readonly Dictionary<string, Entity> entities = new();
    readonly List<NodeIR> nodes = [];
    readonly List<InputIR> inputs = [];
    readonly List<LayerIR> layers = [];
    readonly Dictionary<string, LayerIR> layerByName = new();
    readonly Dictionary<string, int> layerUses = new();
    readonly List<OutputIR> outputs = [];
    readonly List<DeclaredSymmetry> declared = [];
    readonly HashSet<string> structural = [];
    readonly HashSet<string> brokenLayers = [];
    readonly Dictionary<string, IReadOnlyDictionary<string, HyperExpr>> argExpressions = new();
    int executed;
    bool sawBroken;
    bool unrollLimitHit;

    // Models as blocks: the other models, the chain of models being built (for recursion), the hyper-arguments this model
    // was instantiated with (null for a model built on its own), and the instances it declares.
    readonly ModelLibrary? library;
    readonly IReadOnlyList<string> stack;
    readonly IReadOnlyDictionary<string, Value>? given;
    readonly Dictionary<string, BlockInstance> blockInstances = new();

    sealed class BlockInstance(string name, CheckedModel block, SourceSpan span)
    {
        public string Name => name;
        public CheckedModel Block => block;
        public SourceSpan Span => span;
        public string Prefix => name + ".";
        public SourceSpan? AppliedAt;
        public List<int> Nodes = [];
        public List<int> Inputs = [];
        public List<OutputIR> Outputs = [];
    }

    public ModelBuilder(ModelDecl decl, List<Diagnostic> diagnostics, IReadOnlyDictionary<string, string> overrides, HashSet<string> usedOverrides,
        ModelLibrary? library = null, IReadOnlyList<string>? stack = null, IReadOnlyDictionary<string, Value>? given = null)
    {
        this.decl = decl;
        this.diagnostics = diagnostics;
        errorsBefore = diagnostics.Count(d => d.Level == DiagnosticLevel.Error);
        this.overrides = overrides;
        this.usedOverrides = usedOverrides;
        this.library = library;
        this.stack = [.. stack ?? [], decl.Name.Text];
        this.given = given;
    }

    public CheckedModel Build(long maxParameterBytes)
    {
        EvaluateHyperParameters();
        Execute(decl.Body, new Dictionary<string, Value>(hyper));
        var model = new ModelIR(decl.Name.Text, new Dictionary<string, Value>(hyper), inputs, layers, nodes, outputs, [], decl.Span)
        {
            ArgExpressions = argExpressions,
            StructuralHyperParameters = hyper.Keys.Where(structural.Contains).ToList(),
            Blocks = blockInstances.Values.Select(b => new BlockIR(b.Name, b.Block.Model.Name, b.Block.Model.HyperParameters,
                b.Block.Model.Layers.Select(l => b.Prefix + l.Name).ToList(), b.Nodes, b.Inputs, b.Outputs, b.Span) { Definition = b.Block.Model }).ToList(),
        };

        if (outputs.Count == 0 && !HasOutputStatement(decl.Body))
            diagnostics.Add(DiagnosticCatalog.NoOutput(decl.Name.Span, decl.Name.Text));

        // The resource guard: float32 parameters, counted without allocating anything. Reported at the layer that holds
        // the largest share (the one to shrink), with that share.
        {
            // Per layer in double as well (exact below 2^53, and still ordered beyond), for the share when a count overflows.
            var sizes = model.Layers.Select(l => (Layer: l, Count: l.Parameters.Sum(p => p.Shape.Aggregate(1.0, (a, d) => a * d)))).ToList();
            long? count = null, bytes = null;
            try
            {
                long c = 0;
                foreach (var p in model.Parameters) c = checked(c + p.Shape.Aggregate(1L, (a, d) => checked(a * d)));
                (count, bytes) = (c, checked(c * 4));
            }
            catch (OverflowException) { /* more than 2^63 bytes: over any limit */ }
            if ((bytes is null || bytes > maxParameterBytes) && sizes.Count > 0)
            {
                var total = sizes.Sum(s => s.Count);
                var top = sizes.MaxBy(s => s.Count);
                diagnostics.Add(DiagnosticCatalog.TooManyParameters(top.Layer.Span, decl.Name.Text, count, bytes, maxParameterBytes, top.Layer.Name, top.Count / total));
            }
        }

        var hasErrors = diagnostics.Count(d => d.Level == DiagnosticLevel.Error) > errorsBefore || sawBroken;
        var unresolved = entities.Where(e => e.Value.Kind == EntityKind.Site && e.Value.Node < 0).Select(e => e.Key).ToHashSet();
        return new CheckedModel(model, declared, layerUses, hasErrors, unresolved);
    }

    static bool HasOutputStatement(IEnumerable<ModelStmt> body)
        => body.Any(s => s is AssignStmt { IsOutput: true } or BrokenStmt || (s is ForStmt f && HasOutputStatement(f.Body)));

    // ---------------------------------------------------------------- hyper-parameters

    void EvaluateHyperParameters()
    {
        foreach (var p in decl.Parameters)
        {
            var name = p.Name.Text;
            if (hyper.ContainsKey(name)) { diagnostics.Add(DiagnosticCatalog.DuplicateName(p.Name.Span, name, "model's parameter list")); continue; }
            var type = p.Type.Text;
            if (!HyperTypes.Contains(type)) { diagnostics.Add(DiagnosticCatalog.UnknownType(p.Type.Span, type)); continue; }

            Value? value = null;
            if (given is not null && given.TryGetValue(name, out var g)) value = g; // a block's hyper-argument (checked by its user)
            else if (overrides.TryGetValue(name, out var text))
            {
                usedOverrides.Add(name);
                value = ParseOverride(type, text);
                if (value is null) { diagnostics.Add(DiagnosticCatalog.BadOverride(p.Span, name, text, type)); continue; }
            }
            else if (p.Default is not null)
            {
                var v = new Constants(hyper, diagnostics).Eval(p.Default, $"the default of '{name}'");
                if (v is null) continue;
                value = Coerce(type, v);
                if (value is null) { diagnostics.Add(DiagnosticCatalog.TypeMismatch(p.Default.Span, $"the default of '{name}'", $"a {type}", Constants.Describe(v))); continue; }
            }
            else { diagnostics.Add(DiagnosticCatalog.MissingHyperParameter(p.Span, name)); continue; }
            hyper[name] = value;
        }
    }

    static Value? ParseOverride(string type, string text)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        text = text.Trim();
        return type switch
        {
            "int" => long.TryParse(text, System.Globalization.NumberStyles.Integer, inv, out var i) ? new Value.Int(i) : null,
            "float" => Text.Numbers.ParseFinite(text) is { } f ? new Value.Float(f) : null, // NaN and ±inf are not valid
            "bool" => text is "true" ? new Value.Bool(true) : text is "false" ? new Value.Bool(false) : null,
            _ => new Value.Str(text),
        };
    }

    static Value? Coerce(string type, Value v) => (type, v) switch
    {
        ("int", Value.Int) => v,
        ("float", Value.Int i) => new Value.Float(i.V),
        ("float", Value.Float) => v,
        ("bool", Value.Bool) => v,
        ("string", Value.Str) => v,
        _ => null,
    };

    // ---------------------------------------------------------------- statements

    void Execute(IReadOnlyList<ModelStmt> body, Dictionary<string, Value> env)
    {
        foreach (var stmt in body)
        {
            if (unrollLimitHit) return;
            if (++executed > MaxUnrolledStatements)
            {
                unrollLimitHit = true;
                diagnostics.Add(DiagnosticCatalog.UnrollTooLarge(stmt.Span, MaxUnrolledStatements));
                return;
            }
            var constants = new Constants(env, diagnostics, entities.Keys) { Used = structural };
            switch (stmt)
            {
                case InputStmt i: Input(i, constants); break;
                case LayerStmt l: Layer(l, constants); break;
                case AssignStmt a: Assign(a, constants); break;
                case SymmetryStmt s: Symmetry(s, constants); break;
                case ForStmt f: For(f, env, constants); break;
                case BrokenStmt b: Broken(b, constants); break;
            }
        }
    }

    void For(ForStmt f, Dictionary<string, Value> env, Constants constants)
    {
        var from = constants.EvalInt(f.From, "the start of a for range");
        var to = constants.EvalInt(f.To, "the end of a for range");
        if (from is null || to is null) return;
        var name = f.Variable.Text;
        if (env.ContainsKey(name) || entities.ContainsKey(name))
        {
            diagnostics.Add(DiagnosticCatalog.DuplicateName(f.Variable.Span, name, "model"));
            return;
        }
        if (to.Value - from.Value > MaxUnrolledStatements)
        {
            unrollLimitHit = true;
            diagnostics.Add(DiagnosticCatalog.UnrollTooLarge(f.Span, MaxUnrolledStatements));
            return;
        }
        for (var i = from.Value; i <= to.Value && !unrollLimitHit; i++)
        {
            var inner = new Dictionary<string, Value>(env) { [name] = new Value.Int(i) };
            Execute(f.Body, inner);
        }
    }

    string? NameOf(IndexedName n, Constants constants)
    {
        if (n.Index is null) return n.Name.Text;
        var i = constants.EvalInt(n.Index, $"the index of '{n.Name.Text}'");
        return i is null ? null : $"{n.Name.Text}[{i}]";
    }

    bool Declare(string name, SourceSpan span, Entity e, Constants constants)
    {
        if (entities.ContainsKey(name) || constants.Env.ContainsKey(name))
        {
            diagnostics.Add(DiagnosticCatalog.DuplicateName(span, name, "model"));
            return false;
        }
        entities[name] = e;
        return true;
    }

    void Input(InputStmt s, Constants constants)
    {
        var type = ElementType.Float32;
        if (s.ElementType is { } et)
        {
            if (et.Text is "float" or "float32") type = ElementType.Float32;
            else if (et.Text is "int" or "int64") type = ElementType.Int64;
            else { diagnostics.Add(DiagnosticCatalog.UnknownElementType(et.Span, et.Text)); return; }
        }
        var shape = new List<int>();
        foreach (var d in s.Shape)
        {
            var v = Dimension(d, constants, $"dimension of input '{s.Name.Text}'");
            if (v is null) return;
            shape.Add(v.Value);
        }
        if (shape.Count == 0) { diagnostics.Add(DiagnosticCatalog.RankMismatch(s.Span, $"input '{s.Name.Text}'", "at least one dimension", "[]")); return; }
        var id = nodes.Count;
        if (!Declare(s.Name.Text, s.Name.Span, new Entity(EntityKind.Input, id, s.Span), constants)) return;
        nodes.Add(new NodeIR(id, OpKind.Input, [], shape, type, null, new Dictionary<string, Value> { ["name"] = new Value.Str(s.Name.Text) }, s.Span));
        inputs.Add(new InputIR(s.Name.Text, shape, type, s.Span));
    }

    int? Dimension(Expr e, Constants constants, string what)
    {
        var v = constants.EvalInt(e, what);
        if (v is null) return null;
        if (v <= 0) { diagnostics.Add(DiagnosticCatalog.BadDimension(e.Span, what, v.Value)); return null; }
        if (v > int.MaxValue) { diagnostics.Add(DiagnosticCatalog.DimensionTooLarge(e.Span, what)); return null; }
        return (int)v.Value;
    }

    // ---------------------------------------------------------------- layers

    /// <summary>Each layer kind's arguments, with their defaults and ranges (its definition's <see cref="LayerDefinition.Signature"/>).</summary>
    public static IReadOnlyList<ArgSpec> LayerSignature(LayerKind kind) => LayerDefinition.Of(kind).Signature;

    void Layer(LayerStmt s, Constants constants)
    {
        var name = NameOf(s.Target, constants);
        if (name is null) return;
        if (LayerDefinition.Find(s.Kind.Text) is null && library is not null && library.Models.TryGetValue(s.Kind.Text, out var blockDecl))
        {
            DeclareBlock(s, name, blockDecl, constants);
            return;
        }
        if (LayerDefinition.Find(s.Kind.Text) is not { } definition)
        {
            diagnostics.Add(DiagnosticCatalog.UnknownLayerKind(s.Kind.Span, s.Kind.Text, Names.Suggest(s.Kind.Text, LayerKinds.Concat(library?.Models.Keys ?? [])), LayerKinds));
            Poison(name, s, constants);
            return;
        }
        // Layer arguments may vary with hyper-parameters in generated code, so they do not count as structural uses.
        var signature = definition.Signature;
        var argConstants = new Constants(constants.Env, diagnostics, entities.Keys);
        var bound = ArgBinder.Bind(definition.Name, signature, s.Arguments, argConstants, diagnostics, s.Span);
        if (bound is null) { Poison(name, s, constants); return; }
        var rendered = new Dictionary<string, HyperExpr>();
        foreach (var (argName, expr) in ArgBinder.Map(signature, s.Arguments))
            if (signature.First(a => a.Name == argName).Type is ArgType.Int or ArgType.Float or ArgType.Bool
                && Constants.Tree(expr, constants.Env, hyper.Keys) is { } tree)
                rendered[argName] = tree;

        if (definition.Validate(bound, s.Span) is { } invalid)
        {
            diagnostics.Add(invalid);
            Poison(name, s, constants);
            return;
        }

        // init = normal(0.001) is stored as init = normal, init_scale = 0.001.
        var init = InitSpec.Default;
        if (bound.Remove("init", out var iv) && iv is Value.List { Items: [Value.Name k, Value.Float sc] })
        {
            init = k.V == "default" ? InitSpec.Default : new InitSpec(k.V, sc.V);
            bound["init"] = new Value.Name(k.V);
            bound["init_scale"] = new Value.Float(sc.V);
        }

        var biasInit = InitSpec.Default;
        if (bound.Remove("bias_init", out var bv) && bv is Value.List { Items: [Value.Name bk, Value.Float bs] })
        {
            biasInit = bk.V == "default" ? InitSpec.Default : new InitSpec(bk.V, bs.V);
            bound["bias_init"] = new Value.Name(bk.V);
            bound["bias_init_scale"] = new Value.Float(bs.V);
        }

        var ps = new ParameterList(name, bound, init, biasInit);
        definition.Parameters(ps);
        var layer = new LayerIR(name, definition.Kind, bound, ps.Items, s.Span);
        if (!Declare(name, s.Target.Span, new Entity(EntityKind.Layer, -1, s.Span), constants)) return;
        layers.Add(layer);
        if (rendered.Count > 0) argExpressions[name] = rendered;
        layerByName[name] = layer;
        layerUses[name] = 0;
    }

    /// <summary>A statement with a syntax error: its name is taken silently, so its uses add no errors.</summary>
    void Broken(BrokenStmt b, Constants constants)
    {
        sawBroken = true;
        if (b.Target is null) return;
        var quiet = new Constants(constants.Env, []);
        var name = NameOf(b.Target, quiet);
        if (name is null || entities.ContainsKey(name) || constants.Env.ContainsKey(name)) return;
        entities[name] = new Entity(b.IsLayer ? EntityKind.Layer : EntityKind.Site, -1, b.Span);
        if (b.IsLayer) brokenLayers.Add(name);
    }

    /// <summary>A layer whose declaration failed: its name stays taken, and its uses fail silently.</summary>
    void Poison(string name, LayerStmt s, Constants constants)
    {
        if (Declare(name, s.Target.Span, new Entity(EntityKind.Layer, -1, s.Span), constants)) brokenLayers.Add(name);
    }

    // ---------------------------------------------------------------- values

    void Assign(AssignStmt s, Constants constants)
    {
        var name = NameOf(s.Target, constants);
        if (name is null) return;
        if (entities.ContainsKey(name) || constants.Env.ContainsKey(name))
        {
            diagnostics.Add(DiagnosticCatalog.DuplicateName(s.Target.Span, name, "model"));
            return;
        }
        var id = Lower(s.Value, constants);
        if (id is null)
        {
            // Remember the name so later uses do not repeat the error as "not defined".
            entities[name] = new Entity(EntityKind.Site, -1, s.Span);
            return;
        }
        var node = nodes[id.Value];
        if (node.Site is not null || node.Op == OpKind.Input)
        {
            // `g = h` names an existing value again: an identity node carries the new name.
            id = Add(OpKind.Activation, [id.Value], node.Shape, node.Type, new() { ["fn"] = new Value.Str("identity") }, s.Span);
            node = nodes[id.Value];
        }
        nodes[id.Value] = node with { Site = name };
        entities[name] = new Entity(EntityKind.Site, id.Value, s.Span);
        if (s.IsOutput) outputs.Add(new OutputIR(name, id.Value));
    }

    void Symmetry(SymmetryStmt s, Constants constants)
    {
        var name = NameOf(s.Name, constants);
        if (name is null) return;
        string? target = null;
        var targetSpan = s.Kind.Span;
        if (s.Arguments.Count != 1 || s.Arguments[0].Name is not null)
            diagnostics.Add(DiagnosticCatalog.SymmetryTarget(s.Span, $"{s.Kind.Text}(…) takes exactly one target: a site such as h, or attn.qk / attn.vo"));
        else
        {
            targetSpan = s.Arguments[0].Span;
            target = TargetName(s.Arguments[0].Value, constants);
            if (target is null) return;
        }
        if (!Declare(name, s.Name.Span, new Entity(EntityKind.Symmetry, -1, s.Span), constants)) return;
        declared.Add(new DeclaredSymmetry(name, s.Kind.Text, s.Kind.Span, target, targetSpan, s.Span));
    }

    /// <summary>The written name of a site/member target: <c>h</c>, <c>h[2]</c>, <c>attn.qk</c>, <c>fc[1].weight</c>; null after an error.</summary>
    public static string? TargetName(Expr e, Constants constants)
    {
        switch (e)
        {
            case NameExpr n: return n.Name;
            case IndexExpr { Target: NameExpr b } ix:
                var i = constants.EvalInt(ix.Index, $"the index of '{b.Name}'");
                return i is null ? null : $"{b.Name}[{i}]";
            case MemberExpr m:
                var t = TargetName(m.Target, constants);
                return t is null ? null : $"{t}.{m.Member.Text}";
            case ErrorExpr: return null;
            default:
                constants.Report(DiagnosticCatalog.SymmetryTarget(e.Span, "expected a name such as h, h[2], attn.qk or fc1.weight"));
                return null;
        }
    }

    int Add(OpKind op, IReadOnlyList<int> ins, IReadOnlyList<int> shape, ElementType type, Dictionary<string, Value> attrs, SourceSpan span)
    {
        var id = nodes.Count;
        nodes.Add(new NodeIR(id, op, ins, shape, type, null, attrs, span));
        return id;
    }

    string? ValueName(Expr e, Constants constants) => e switch
    {
        NameExpr n => n.Name,
        IndexExpr { Target: NameExpr b } ix => constants.EvalInt(ix.Index, $"the index of '{b.Name}'") is { } i ? $"{b.Name}[{i}]" : null,
        _ => null,
    };

    int? Lower(Expr e, Constants constants)
    {
        switch (e)
        {
            case ErrorExpr: return null;
            case NameExpr or IndexExpr:
            {
                if (e is IndexExpr { Target: not NameExpr }) { diagnostics.Add(DiagnosticCatalog.ExpectedValue(e.Span, "an indexed expression")); return null; }
                var name = ValueName(e, constants);
                if (name is null) return null;
                if (entities.TryGetValue(name, out var ent))
                {
                    if (ent.Kind is EntityKind.Input or EntityKind.Site) return ent.Node < 0 ? null : ent.Node;
                    diagnostics.Add(DiagnosticCatalog.WrongKindOfName(e.Span, name, ent.Kind switch { EntityKind.Layer => "a layer", EntityKind.Block => "a block", _ => "a symmetry" }, "a value (an input or a named site)"));
                    return null;
                }
                if (constants.Env.ContainsKey(name)) { diagnostics.Add(DiagnosticCatalog.ExpectedValue(e.Span, $"the constant '{name}'")); return null; }
                diagnostics.Add(DiagnosticCatalog.UndefinedName(e.Span, name, Names.Suggest(name, entities.Keys.Concat(constants.Env.Keys))));
                return null;
            }
            case CallExpr c: return Call(c, constants);
            case UnaryExpr u:
            {
                var x = Lower(u.Operand, constants);
                if (x is null || u.Operator == "+") return x;
                var n = nodes[x.Value];
                return Add(OpKind.Scale, [x.Value], n.Shape, n.Type, new() { ["factor"] = new Value.Float(-1) }, u.Span);
            }
            case BinaryExpr b: return Binary(b, constants);
            case IntLiteral or FloatLiteral or BoolLiteral or StringLiteral:
                diagnostics.Add(DiagnosticCatalog.ExpectedValue(e.Span, "a constant")); return null;
            case MemberExpr { Target: CallExpr call } m when CalleeName(call, constants) is { } callee && (blockInstances.ContainsKey(callee) || brokenLayers.Contains(callee)):
                if (blockInstances.TryGetValue(callee, out var applied)) return ApplyBlock(call, applied, constants, m.Member);
                foreach (var a in call.Arguments) Lower(a.Value, constants);
                return null;
            case MemberExpr { Target: NameExpr or IndexExpr } m when ValueName(m.Target, new Constants(constants.Env, [])) is { } instance && (blockInstances.ContainsKey(instance) || brokenLayers.Contains(instance)):
                return blockInstances.TryGetValue(instance, out var read) ? BlockOutput(read, m.Member, m.Span) : null;
            case MemberExpr m:
                diagnostics.Add(DiagnosticCatalog.ExpectedValue(e.Span, $"the member access '.{m.Member.Text}'")); return null;
            default:
                diagnostics.Add(DiagnosticCatalog.ExpectedValue(e.Span, "a list")); return null;
        }
    }

    int? Binary(BinaryExpr b, Constants constants)
    {
        if (b.Operator is "/" or "%") { diagnostics.Add(DiagnosticCatalog.UnsupportedOperator(b.Span, b.Operator)); return null; }
        if (b.Operator == "*" && (constants.IsConstant(b.Left) || constants.IsConstant(b.Right)))
        {
            var (k, x) = constants.IsConstant(b.Left) ? (b.Left, b.Right) : (b.Right, b.Left);
            var f = constants.Eval(k, "a scale factor");
            var xi = Lower(x, constants);
            if (f is null || xi is null) return null;
            if (f is not (Value.Int or Value.Float)) { diagnostics.Add(DiagnosticCatalog.TypeMismatch(k.Span, "a scale factor", "a number", Constants.Describe(f))); return null; }
            var n = nodes[xi.Value];
            return Add(OpKind.Scale, [xi.Value], n.Shape, n.Type, new() { ["factor"] = new Value.Float(f.AsDouble()) }, b.Span);
        }
        var l = Lower(b.Left, constants);
        var r = Lower(b.Right, constants);
        if (l is null || r is null) return null;
        var ln = nodes[l.Value]; var rn = nodes[r.Value];
        if (!ln.Shape.SequenceEqual(rn.Shape))
        {
            diagnostics.Add(DiagnosticCatalog.ElementwiseShapeMismatch(b.Span, b.Operator, Names.Shape(ln.Shape), Names.Shape(rn.Shape)));
            return null;
        }
        if (ln.Type != ElementType.Float32 || rn.Type != ElementType.Float32)
        {
            diagnostics.Add(DiagnosticCatalog.ElementTypeMismatch(b.Span, $"'{b.Operator}'", "float", "int"));
            return null;
        }
        var op = b.Operator switch
        {
            "+" => OpKind.Add,
            "-" => OpKind.Sub,
            "*" => OpKind.Mul,
            _ => throw new InvalidOperationException($"operator '{b.Operator}' reached lowering"), // '/' and '%' were rejected above
        };
        return Add(op, [l.Value, r.Value], ln.Shape, ln.Type, new(), b.Span);
    }

    int? Call(CallExpr c, Constants constants)
    {
        var callee = c.Callee is NameExpr or IndexExpr ? ValueName(c.Callee, constants) : null;
        if (callee is null)
        {
            if (c.Callee is not (NameExpr or IndexExpr)) diagnostics.Add(DiagnosticCatalog.ExpectedValue(c.Callee.Span, "something that cannot be called"));
            return null;
        }
        if (layerByName.TryGetValue(callee, out var layer)) return ApplyLayer(c, layer, constants);
        if (blockInstances.TryGetValue(callee, out var block)) return ApplyBlock(c, block, constants, null);
        if (brokenLayers.Contains(callee)) { foreach (var a in c.Arguments) Lower(a.Value, constants); return null; }
        if (entities.TryGetValue(callee, out var ent))
        {
            diagnostics.Add(DiagnosticCatalog.WrongKindOfName(c.Callee.Span, callee, ent.Kind switch { EntityKind.Input => "an input", EntityKind.Site => "a site", _ => "a symmetry" }, "a layer or a function"));
            return null;
        }
        if (Activations.Contains(callee)) return Activation(c, callee, constants);
        if (Reductions.Contains(callee)) return Reduction(c, callee, constants);
        var candidates = layerByName.Keys.Concat(brokenLayers).Concat(Activations).Concat(Reductions);
        if (LayerKinds.Contains(callee))
            diagnostics.Add(DiagnosticCatalog.WrongKindOfName(c.Callee.Span, callee, "a layer kind", "a layer declared with `layer NAME = " + callee + "(…)`"));
        else
            diagnostics.Add(DiagnosticCatalog.UnknownFunction(c.Callee.Span, callee, Names.Suggest(callee, candidates)));
        return null;
    }

    int? SingleInput(CallExpr c, string what, Constants constants)
    {
        var positional = c.Arguments.Where(a => a.Name is null).ToList();
        if (positional.Count != 1)
        {
            diagnostics.Add(DiagnosticCatalog.TakesOneInput(c.Span, what, positional.Count));
            foreach (var a in positional) Lower(a.Value, constants);
            return null;
        }
        return Lower(positional[0].Value, constants);
    }

    // ---------------------------------------------------------------- models as blocks

    /// <summary>
    /// <c>layer b = Block(d = 32)</c>: checks the hyper-arguments, builds the block's graph with them (once per model and
    /// arguments), and adds its layers under qualified names (<c>b.fc1</c>, parameters <c>b.fc1.weight</c>).
    /// </summary>
    void DeclareBlock(LayerStmt s, string name, ModelDecl block, Constants constants)
    {
        var model = block.Name.Text;
        if (stack.Contains(model))
        {
            library!.Root.Add(DiagnosticCatalog.BlockRecursion(s.Kind.Span, model, [.. stack.SkipWhile(m => m != model), model]));
            sawBroken = true; // reported in the compilation's list, not this builder's: this model still has an error
            Poison(name, s, constants);
            return;
        }
        var what = $"block '{name}' = {model}(…)";
        var declaredNames = block.Parameters.Select(p => p.Name.Text).ToList();
        var args = new Dictionary<string, Value>();
        var ok = true;
        foreach (var a in s.Arguments)
        {
            if (a.Name is null)
            {
                diagnostics.Add(DiagnosticCatalog.BlockArgumentsByName(a.Span, what, declaredNames.Count == 0 ? $"{model} has none" : $"{declaredNames[0]} = …"));
                ok = false;
                continue;
            }
            var p = block.Parameters.FirstOrDefault(p => p.Name.Text == a.Name.Text);
            if (p is null)
            {
                diagnostics.Add(DiagnosticCatalog.NoSuchArgument(a.Name.Span, what, a.Name.Text, Names.Suggest(a.Name.Text, declaredNames), declaredNames));
                ok = false;
                continue;
            }
            if (args.ContainsKey(p.Name.Text)) { diagnostics.Add(DiagnosticCatalog.ArgumentGivenTwice(a.Span, what, p.Name.Text)); ok = false; continue; }
            // Hyper-arguments fix the block's structure, so the hyper-parameters they read are structural here.
            var v = constants.Eval(a.Value, $"hyper-parameter '{p.Name.Text}' of block '{name}'");
            if (v is null) { ok = false; continue; }
            var coerced = HyperTypes.Contains(p.Type.Text) ? Coerce(p.Type.Text, v) : v;
            if (coerced is null)
            {
                diagnostics.Add(DiagnosticCatalog.TypeMismatch(a.Value.Span, $"hyper-parameter '{p.Name.Text}' of block '{name}'", $"a {p.Type.Text}", Constants.Describe(v)));
                ok = false;
                continue;
            }
            args[p.Name.Text] = coerced;
        }
        foreach (var p in block.Parameters)
            if (!args.ContainsKey(p.Name.Text) && p.Default is null && !overrides.ContainsKey(p.Name.Text) && s.Arguments.All(a => a.Name is not null))
            {
                diagnostics.Add(DiagnosticCatalog.MissingArgument(s.Span, what, p.Name.Text));
                ok = false;
            }
        if (!ok) { Poison(name, s, constants); return; }

        var key = model + "(" + string.Join(", ", args.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")) + ")";
        if (!library!.Built.TryGetValue(key, out var built))
        {
            var own = new List<Diagnostic>();
            var checkedBlock = new ModelBuilder(block, own, overrides, usedOverrides, library, stack, args).Build(long.MaxValue);
            library.Built[key] = built = (checkedBlock, own);
        }
        if (built.Model.HasErrors)
        {
            // A recursion was reported where it closes; any other error is shown here, with the arguments that caused it.
            if (built.Diagnostics.FirstOrDefault(d => d.Level == DiagnosticLevel.Error) is { } first)
                diagnostics.Add(DiagnosticCatalog.BlockDoesNotCheck(s.Kind.Span, name, model,
                    string.Join(", ", built.Model.Model.HyperParameters.Select(kv => $"{kv.Key} = {kv.Value}")), first));
            sawBroken = true;
            Poison(name, s, constants);
            return;
        }
        if (!Declare(name, s.Target.Span, new Entity(EntityKind.Block, -1, s.Span), constants)) return;
        var instance = new BlockInstance(name, built.Model, s.Span);
        blockInstances[name] = instance;
        foreach (var l in built.Model.Model.Layers)
            layers.Add(l with { Name = instance.Prefix + l.Name, Parameters = l.Parameters.Select(p => p with { Name = instance.Prefix + p.Name }).ToList() });
    }

    /// <summary>
    /// <c>b(x, y)</c> (or <c>b(x).name</c> for a block with several outputs): the block's graph is inlined here, its inputs
    /// bound in declaration order, its sites qualified (<c>b.h</c>), and its declared symmetries re-checked in this model.
    /// </summary>
    int? ApplyBlock(CallExpr c, BlockInstance b, Constants constants, Identifier? member)
    {
        var def = b.Block.Model;
        var model = def.Name;
        if (b.AppliedAt is { } first)
        {
            diagnostics.Add(DiagnosticCatalog.BlockAppliedTwice(c.Span, b.Name, first));
            return null;
        }
        if (c.Arguments.Count != def.Inputs.Count || c.Arguments.Any(a => a.Name is not null))
        {
            diagnostics.Add(DiagnosticCatalog.BlockInputCount(c.Span, b.Name, model, def.Inputs.Select(i => $"{i.Name}: {Names.Shape(i.Shape)}").ToList(), c.Arguments.Count));
            return null;
        }
        var args = new List<int>();
        for (int i = 0; i < c.Arguments.Count; i++)
        {
            var x = Lower(c.Arguments[i].Value, constants);
            if (x is null) return null;
            var n = nodes[x.Value];
            var input = def.Inputs[i];
            if (!n.Shape.SequenceEqual(input.Shape) || n.Type != input.Type)
            {
                static string Describe(IReadOnlyList<int> shape, ElementType t) => (t == ElementType.Int64 ? "int " : "") + Names.Shape(shape);
                diagnostics.Add(DiagnosticCatalog.BlockInputMismatch(c.Arguments[i].Span, b.Name, input.Name, Describe(input.Shape, input.Type), Describe(n.Shape, n.Type)));
                return null;
            }
            args.Add(x.Value);
        }
        OutputIR? chosen;
        if (member is null)
        {
            if (def.Outputs.Count != 1 && def.Outputs.Count > 0)
            {
                diagnostics.Add(DiagnosticCatalog.BlockOutput(c.Span, $"block '{b.Name}' ({model}) has {def.Outputs.Count} outputs ({string.Join(", ", def.Outputs.Select(o => o.Name))}); choose one with `{b.Name}(…).{def.Outputs[0].Name}` and read the others as `{b.Name}.NAME`"));
                return null;
            }
            if (def.Outputs.Count == 0) return null; // the block's own check reported it (SYM0219)
            chosen = def.Outputs[0];
        }
        else if ((chosen = def.Outputs.FirstOrDefault(o => o.Name == member.Text)) is null)
        {
            diagnostics.Add(NoSuchOutput(member.Span, b, member.Text));
            return null;
        }

        // Inline the block's graph: its input nodes are the arguments, every other node is copied with qualified names.
        var map = new int[def.Nodes.Count];
        foreach (var n in def.Nodes)
        {
            if (n.Op == OpKind.Input)
            {
                map[n.Id] = args[def.Inputs.ToList().FindIndex(i => i.Name == n.Attr("name"))];
                continue;
            }
            var attrs = n.Attrs;
            if (n.Op == OpKind.Layer) attrs = new Dictionary<string, Value>(n.Attrs) { ["layer"] = new Value.Str(b.Prefix + n.Attr("layer")) };
            var id = nodes.Count;
            nodes.Add(n with { Id = id, Inputs = n.Inputs.Select(i => map[i]).ToList(), Site = n.Site is null ? null : b.Prefix + n.Site, Attrs = attrs });
            b.Nodes.Add(id);
            map[n.Id] = id;
        }
        b.AppliedAt = c.Span;
        b.Inputs = args;
        b.Outputs = def.Outputs.Select(o => new OutputIR(o.Name, map[o.Node])).ToList();
        foreach (var o in b.Outputs) entities[b.Prefix + o.Name] = new Entity(EntityKind.Site, o.Node, c.Span);
        foreach (var d in b.Block.Declared)
            declared.Add(d with
            {
                Name = b.Prefix + d.Name,
                Target = d.Target is null ? null : b.Prefix + d.Target,
                Use = c.Span,
                Block = d.Block is { } inner ? (b.Prefix + inner.Instance, inner.Model) : (b.Name, model),
            });
        return map[chosen.Node];
    }

    /// <summary><c>b.name</c> after <c>b(…)</c>: an output of the block.</summary>
    int? BlockOutput(BlockInstance b, Identifier member, SourceSpan span)
    {
        if (b.AppliedAt is null)
        {
            diagnostics.Add(DiagnosticCatalog.BlockOutput(span, $"block '{b.Name}' is not applied yet; apply it first (`{b.Name}(…)`), then read its outputs as `{b.Name}.NAME`"));
            return null;
        }
        if (b.Outputs.FirstOrDefault(o => o.Name == member.Text) is { } o) return o.Node;
        diagnostics.Add(NoSuchOutput(member.Span, b, member.Text));
        return null;
    }

    static Diagnostic NoSuchOutput(SourceSpan span, BlockInstance b, string name)
    {
        var def = b.Block.Model;
        var inside = def.Site(name) is not null ? $"; '{name}' is a site inside it (only outputs can be read outside a block; symmetries and diagnostics name it '{b.Prefix}{name}')" : "";
        return DiagnosticCatalog.BlockOutput(span, $"block '{b.Name}' ({def.Name}) has no output '{name}'; its outputs are {string.Join(", ", def.Outputs.Select(o => o.Name))}{inside}");
    }

    /// <summary>The name a call's callee spells (<c>b</c>, <c>blk[2]</c>), evaluated without reporting anything.</summary>
    string? CalleeName(CallExpr c, Constants constants)
        => c.Callee is NameExpr or IndexExpr ? ValueName(c.Callee, new Constants(constants.Env, [])) : null;

    int? ApplyLayer(CallExpr c, LayerIR layer, Constants constants)
    {
        if (c.Arguments.Count != 1 || c.Arguments[0].Name is not null)
        {
            diagnostics.Add(DiagnosticCatalog.LayerApplication(c.Span, layer.Name, c.Arguments.Count));
            return null;
        }
        var x = Lower(c.Arguments[0].Value, constants);
        if (x is null) return null;
        var n = nodes[x.Value];
        var result = LayerDefinition.Of(layer.Kind).OutputShape(new LayerApplication(layer, n.Shape, n.Type, c.Span, diagnostics));
        if (result is null) return null;
        layerUses[layer.Name]++;
        return Add(OpKind.Layer, [x.Value], result, ElementType.Float32, new() { ["layer"] = new Value.Str(layer.Name) }, c.Span);
    }

    int? Activation(CallExpr c, string fn, Constants constants)
    {
        var definition = Vocabulary.Functions.Get(fn);
        var sig = definition.Arguments;
        int? x;
        List<Argument> named;
        if ((definition.Shape is not null || sig.Any(a => a.Required)) && c.Arguments.Count > 0 && c.Arguments[0].Name is null)
        {
            // A function with a shape rule (pooling) or a required argument takes its input first, then its arguments by
            // position or name: max_pool(h, 2), dropout(h, 0.5).
            x = Lower(c.Arguments[0].Value, constants);
            named = c.Arguments.Skip(1).ToList();
        }
        else
        {
            x = SingleInput(c, fn, constants);
            named = c.Arguments.Where(a => a.Name is not null).ToList();
        }
        var bound = ArgBinder.Bind(fn, sig, named, constants, diagnostics, c.Span);
        if (x is null || bound is null) return null;
        var n = nodes[x.Value];
        if (n.Type != ElementType.Float32) { diagnostics.Add(DiagnosticCatalog.ElementTypeMismatch(c.Span, fn, "float", "int")); return null; }
        if (fn == "softmax")
        {
            var dim = bound["dim"].AsInt();
            if (dim < -n.Shape.Count || dim >= n.Shape.Count) { diagnostics.Add(DiagnosticCatalog.DimOutOfRange(c.Span, "softmax", dim, Names.Shape(n.Shape))); return null; }
        }
        var attrs = new Dictionary<string, Value> { ["fn"] = new Value.Str(fn) };
        foreach (var (k, v) in bound) attrs[k] = v;
        var shape = n.Shape;
        if (definition.Shape is { } rule)
        {
            if (rule(new FunctionApplication(fn, n.Shape, bound, c.Span, diagnostics)) is not { } result) return null;
            shape = result;
            attrs["dims"] = new Value.Int(n.Shape.Count - 1); // the positions after the channels: 1d or 2d (lowering, C#)
        }
        return Add(OpKind.Activation, [x.Value], shape, ElementType.Float32, attrs, c.Span);
    }

    int? Reduction(CallExpr c, string fn, Constants constants)
    {
        if (c.Arguments.Any(a => a.Name is not null)) { diagnostics.Add(DiagnosticCatalog.NoNamedArguments(c.Span, fn)); return null; }
        var x = SingleInput(c, fn, constants);
        if (x is null) return null;
        var n = nodes[x.Value];
        if (fn == "flatten")
        {
            long size = 1;
            foreach (var d in n.Shape) size = Math.Min(size * d, (long)int.MaxValue + 1);
            if (size > int.MaxValue) { diagnostics.Add(DiagnosticCatalog.DimensionTooLarge(c.Span, "flatten's result")); return null; }
            return Add(OpKind.Flatten, [x.Value], [(int)size], n.Type, new(), c.Span);
        }
        if (n.Shape.Count < 2) { diagnostics.Add(DiagnosticCatalog.RankMismatch(c.Span, fn, "a sequence [T, d]", Names.Shape(n.Shape))); return null; }
        return Add(fn == "last" ? OpKind.Last : OpKind.Mean, [x.Value], n.Shape.Skip(1).ToList(), n.Type, new(), c.Span);
    }
}
