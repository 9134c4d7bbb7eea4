using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Symmetries;

/// <summary>
/// Infers the parameter symmetries of a checked model from the rules of the catalog (docs/language.md, "Symmetries"),
/// checks the declared ones against the same rules, and builds each <see cref="SymmetryIR"/> with its parameter actions.
/// The rules are conservative: a symmetry is inferred only when the graph proves it.
/// </summary>
public sealed class SymmetryInference
{
    static readonly string[] Elementwise = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "sin", "identity"];
    static readonly string[] Homogeneous = ["relu", "leaky_relu", "identity"];
    static readonly string[] Odd = ["tanh", "sin", "identity"];

    readonly ModelIR model;
    readonly IReadOnlyDictionary<string, int> layerUses;
    readonly ISet<string> crossEntropyOutputs;
    readonly List<int>[] consumers;
    readonly HashSet<int> outputNodes;

    /// <param name="crossEntropyOutputs">Outputs of this model that a train block feeds to cross_entropy (for translation).</param>
    public SymmetryInference(ModelIR model, IReadOnlyDictionary<string, int> layerUses, ISet<string> crossEntropyOutputs)
    {
        this.model = model;
        this.layerUses = layerUses;
        this.crossEntropyOutputs = crossEntropyOutputs;
        consumers = new List<int>[model.Nodes.Count];
        for (int k = 0; k < consumers.Length; k++) consumers[k] = [];
        foreach (var n in model.Nodes)
        {
            // Each distinct input once, in order (as Inputs.Distinct(), without a set per node: nodes have one or two inputs).
            var ins = n.Inputs;
            for (int k = 0; k < ins.Count; k++)
            {
                var seenBefore = false;
                for (int j = 0; j < k && !seenBefore; j++) seenBefore = ins[j] == ins[k];
                if (!seenBefore) consumers[ins[k]].Add(n.Id);
            }
        }
        outputNodes = model.Outputs.Select(o => o.Node).ToHashSet();
    }

    /// <summary>A symmetry that holds, before naming.</summary>
    public sealed record Found(SymmetryKind Kind, string Target, int Dim, int Blocks, IReadOnlyList<ParamActionIR> Actions, SourceSpan Span);

    public static string Spell(SymmetryKind k, string target)
        => $"{((uint)k < (uint)KindNames.Length ? KindNames[(int)k] : k.ToString().ToLowerInvariant())}({target})";

    static readonly SymmetryKind[] Kinds = Enum.GetValues<SymmetryKind>();

    /// <summary>Every symmetry the rules give, in graph order: per named site, then per attention layer.</summary>
    public List<Found> InferAll()
    {
        var found = new List<Found>();
        foreach (var n in model.Nodes)
        {
            if (n.Site is null || n.Op == OpKind.Input || model.Site(n.Site)?.Id != n.Id) continue;
            foreach (var kind in Kinds)
                if (Check(kind, n.Site).Found is { } f) found.Add(f);
        }
        foreach (var l in model.Layers.Where(l => l.Kind == LayerKind.SelfAttention))
            foreach (var t in new[] { "qk", "vo" })
                if (Check(SymmetryKind.Rotation, $"{l.Name}.{t}").Found is { } f) found.Add(f);
        return found;
    }

    /// <summary>Whether <c>kind(target)</c> holds: the symmetry, or the reason (the rule that failed).</summary>
    public (Found? Found, string? Reason) Check(SymmetryKind kind, string target)
    {
        var dot = target.LastIndexOf('.');
        if (dot > 0 && target[(dot + 1)..] is "qk" or "vo")
        {
            var layerName = target[..dot];
            var layer = model.FindLayer(layerName);
            if (layer is null) return (null, $"'{layerName}' is not a layer");
            if (layer.Kind != LayerKind.SelfAttention) return (null, $"{target} names the query-key / value-output product of a SelfAttention layer, but '{layerName}' is a {layer.Kind}");
            if (kind != SymmetryKind.Rotation) return (null, $"only rotation acts on {target} (the product of two projections)");
            return (Attention(layer, target[(dot + 1)..], target), null);
        }

        var node = model.Site(target);
        if (node is null || node.Op == OpKind.Input) return (null, $"'{target}' is not a named site");

        return kind switch
        {
            SymmetryKind.Translation => Translation(node, target),
            SymmetryKind.Scale => Scale(node, target),
            _ => Hidden(kind, node, target),
        };
    }

    (Found?, string?) Hidden(SymmetryKind kind, NodeIR node, string target)
    {
        // h = σ(W x + b) with W a Linear layer, or h = W x (no nonlinearity).
        string fn;
        NodeIR pre;
        if (node.Op == OpKind.Activation) { fn = node.Attr("fn"); pre = model.Node(node.Inputs[0]); }
        else if (IsLinear(node)) { fn = "none"; pre = node; }
        else return (null, $"{target} = {Describe(node)}, not a Linear layer followed by an activation");

        if (!IsLinear(pre)) return (null, $"{target} = {fn}(...) of {Describe(pre)}, but the rule needs a Linear layer as the producer");
        var producer = model.Layer(pre.Attr("layer"));
        if (layerUses.GetValueOrDefault(producer.Name) != 1) return (null, $"layer '{producer.Name}' is applied more than once, so its units are shared");
        if (pre.Id != node.Id && (consumers[pre.Id].Count != 1 || outputNodes.Contains(pre.Id)))
            return (null, $"the pre-activation {producer.Name}(...) is also used elsewhere");

        var isIdentity = fn is "none" or "identity";
        var written = fn == "none" ? $"{producer.Name}(...)" : $"{fn}(...)";
        switch (kind)
        {
            case SymmetryKind.Permutation when !Elementwise.Contains(fn) && fn != "none":
                return (null, $"permutation({target}) needs an elementwise activation, but {target} = {written}");
            case SymmetryKind.Rescale when !(Homogeneous.Contains(fn) || fn == "none"):
                return (null, $"rescale({target}) needs a positively homogeneous activation (relu, leaky_relu, identity), but {target} = {written}");
            case SymmetryKind.Sign when !(Odd.Contains(fn) || fn == "none"):
                return (null, $"sign({target}) needs an odd activation (tanh, sin, identity), but {target} = {written}");
            case SymmetryKind.Rotation when !isIdentity:
                return (null, $"rotation({target}) needs no nonlinearity at {target} ({target} = W x), but {target} = {written}");
        }

        if (outputNodes.Contains(node.Id))
            return (null, $"{target} is a model output: the loss and the labels fix the order and scale of its units");
        var cs = consumers[node.Id];
        if (cs.Count == 0) return (null, $"{target} has no consumer");
        var actions = new List<ParamActionIR> { new(producer.Parameter("weight").Name, 0, ActionRole.Forward) };
        if (HasParameter(producer, "bias")) actions.Add(new(producer.Parameter("bias").Name, 0, ActionRole.Forward));
        foreach (var c in cs)
        {
            var cn = model.Node(c);
            if (!IsLinear(cn))
                return (null, $"{target} is consumed by {Describe(cn)}, which is not a Linear layer (every consumer of {target} must be linear in it)");
            var consumer = model.Layer(cn.Attr("layer"));
            if (layerUses.GetValueOrDefault(consumer.Name) != 1)
                return (null, $"{target} is consumed by layer '{consumer.Name}', which is also applied elsewhere");
            actions.Add(new(consumer.Parameter("weight").Name, 1, ActionRole.Inverse));
        }
        return (new Found(kind, target, (int)producer.Args["out"].AsInt(), 1, actions, node.Span), null);
    }

    (Found?, string?) Translation(NodeIR node, string target)
    {
        var viaSoftmax = node.Op == OpKind.Activation && node.Attr("fn") == "softmax";
        if (!viaSoftmax && !(outputNodes.Contains(node.Id) && crossEntropyOutputs.Contains(target)))
            return (null, $"translation({target}) needs {target} to feed a softmax or cross_entropy (as the output a train block's cross_entropy loss reads)");
        if (viaSoftmax && consumers[node.Inputs[0]].Count != 1) return (null, $"the logits under softmax({target}) are also used elsewhere");
        var pre = viaSoftmax ? model.Node(node.Inputs[0]) : node;
        if (viaSoftmax && node.Attrs.TryGetValue("dim", out var dim) && dim.AsInt() != -1 && dim.AsInt() != node.Shape.Count - 1)
            return (null, $"softmax at {target} is not over the last dimension");
        if (!IsLinear(pre)) return (null, $"translation({target}) needs a Linear layer with a bias as the producer of the logits, but they are {Describe(pre)}");
        var layer = model.Layer(pre.Attr("layer"));
        if (!HasParameter(layer, "bias")) return (null, $"layer '{layer.Name}' has no bias to shift");
        if (layerUses.GetValueOrDefault(layer.Name) != 1) return (null, $"layer '{layer.Name}' is applied more than once");
        if (!viaSoftmax && consumers[node.Id].Count != 0) return (null, $"{target} is also consumed inside the model");
        return (new Found(SymmetryKind.Translation, target, 1, 1, [new(layer.Parameter("bias").Name, 0, ActionRole.Shift)], node.Span), null);
    }

    (Found?, string?) Scale(NodeIR node, string target)
    {
        if (!IsLinear(node)) return (null, $"scale({target}) needs {target} = W x + b, produced directly by a Linear layer, but {target} = {Describe(node)}");
        var layer = model.Layer(node.Attr("layer"));
        if (layerUses.GetValueOrDefault(layer.Name) != 1) return (null, $"layer '{layer.Name}' is applied more than once");
        var cs = consumers[node.Id];
        if (outputNodes.Contains(node.Id)) return (null, $"{target} is a model output");
        if (cs.Count == 0) return (null, $"{target} has no consumer");
        foreach (var c in cs)
        {
            var cn = model.Node(c);
            if (!(cn.Op == OpKind.Layer && model.Layer(cn.Attr("layer")).Kind == LayerKind.LayerNorm))
                return (null, $"scale({target}) needs every consumer of {target} to be a normalisation layer (LayerNorm), but it feeds {Describe(cn)}");
        }
        var actions = layer.Parameters.Select(p => new ParamActionIR(p.Name, -1, ActionRole.Forward)).ToList();
        return (new Found(SymmetryKind.Scale, target, 1, 1, actions, node.Span), null);
    }

    Found Attention(LayerIR layer, string which, string target)
    {
        var heads = (int)layer.Args["heads"].AsInt();
        var d = (int)layer.Args["d"].AsInt();
        var hasBias = layer.Args.Bool("bias", true);
        var actions = new List<ParamActionIR>();
        var (a, b) = which == "qk" ? ("q", "k") : ("v", "o");
        actions.Add(new($"{layer.Name}.{a}.weight", 0, ActionRole.Forward));
        if (hasBias) actions.Add(new($"{layer.Name}.{a}.bias", 0, ActionRole.Forward));
        if (which == "qk")
        {
            actions.Add(new($"{layer.Name}.k.weight", 0, ActionRole.Inverse));
            if (hasBias) actions.Add(new($"{layer.Name}.k.bias", 0, ActionRole.Inverse));
        }
        else actions.Add(new($"{layer.Name}.o.weight", 1, ActionRole.Inverse));
        return new Found(SymmetryKind.Rotation, target, d / heads, heads, actions, layer.Span);
    }

    /// <summary>Whether the layer has the parameter "{layer}.{local}" (without building that name per call).</summary>
    static bool HasParameter(LayerIR layer, string local)
    {
        var name = layer.Name;
        foreach (var p in layer.Parameters)
            if (p.Name is { } n && n.Length == name.Length + 1 + local.Length && n[name.Length] == '.'
                && n.StartsWith(name, StringComparison.Ordinal) && n.EndsWith(local, StringComparison.Ordinal))
                return true;
        return false;
    }

    bool IsLinear(NodeIR n) => n.Op == OpKind.Layer && model.Layer(n.Attr("layer")).Kind == LayerKind.Linear;

    string Describe(NodeIR n) => n.Op switch
    {
        OpKind.Layer => $"{model.Layer(n.Attr("layer")).Kind} layer '{n.Attr("layer")}'",
        OpKind.Activation => $"{n.Attr("fn")}(...)",
        OpKind.Input => $"the input '{n.Attr("name")}'",
        OpKind.Add => "an elementwise sum (+)",
        OpKind.Sub => "an elementwise difference (-)",
        OpKind.Mul => "an elementwise product (*)",
        OpKind.Scale => "a constant scaling",
        _ => $"{n.Op.ToString().ToLowerInvariant()}(...)",
    };

    // ---------------------------------------------------------------- declared vs inferred

    static readonly string[] KindNames = Enum.GetNames<SymmetryKind>().Select(k => k.ToLowerInvariant()).ToArray();

    /// <summary>
    /// Checks the declarations, warns for undeclared inferred symmetries, and returns the IR list. Declarations at
    /// <paramref name="unresolved"/> sites (whose definitions already failed with an error) are skipped silently.
    /// </summary>
    public List<SymmetryIR> Resolve(IReadOnlyList<DeclaredSymmetry> declared, List<Diagnostic> diagnostics, IReadOnlySet<string>? unresolved = null)
    {
        var inferred = InferAll();
        var result = new List<SymmetryIR>();
        var declaredKeys = new Dictionary<(SymmetryKind, string), string>();
        foreach (var d in declared)
        {
            var kindIndex = Array.IndexOf(KindNames, d.Kind);
            if (kindIndex < 0) { diagnostics.Add(DiagnosticCatalog.UnknownSymmetryKind(d.KindSpan, d.Kind, Names.Suggest(d.Kind, KindNames))); continue; }
            if (d.Target is null || unresolved?.Contains(d.Target) == true) continue;
            var kind = (SymmetryKind)kindIndex;
            var spelled = Spell(kind, d.Target);
            var node = model.Site(d.Target);
            var isAttention = d.Target.EndsWith(".qk") || d.Target.EndsWith(".vo");
            if (!isAttention && (node is null || node.Op == OpKind.Input))
            {
                var isInput = model.Inputs.Any(i => i.Name == d.Target);
                var isLayer = model.Layers.Any(l => l.Name == d.Target);
                if (isInput || isLayer)
                    diagnostics.Add(DiagnosticCatalog.SymmetryTarget(d.TargetSpan, $"{spelled}: '{d.Target}' is {(isInput ? "an input" : "a layer")}, not a site; a symmetry acts at a named value such as `h = relu(fc1(x))`"));
                else
                    diagnostics.Add(DiagnosticCatalog.UndefinedName(d.TargetSpan, d.Target, Names.Suggest(d.Target, model.Nodes.Where(n => n.Site is not null).Select(n => n.Site!))));
                continue;
            }
            if (declaredKeys.TryGetValue((kind, d.Target), out var other))
            {
                diagnostics.Add(DiagnosticCatalog.DuplicateSymmetry(d.Span, spelled, other));
                continue;
            }
            var (found, reason) = Check(kind, d.Target);
            if (found is null) { diagnostics.Add(DiagnosticCatalog.SymmetryDoesNotHold(d.Span, spelled, reason!)); continue; }
            declaredKeys[(kind, d.Target)] = d.Name;
            result.Add(new SymmetryIR(d.Name, kind, d.Target, found.Dim, found.Blocks, found.Actions, true, true, d.Span));
        }

        foreach (var f in inferred)
        {
            if (declaredKeys.ContainsKey((f.Kind, f.Target))) continue;
            var spelled = Spell(f.Kind, f.Target);
            // permutation, rescale and sign at a site are subgroups of the (GL) rotation group there: declaring rotation covers them.
            var coveredByRotation = f.Kind is SymmetryKind.Permutation or SymmetryKind.Rescale or SymmetryKind.Sign
                && declaredKeys.ContainsKey((SymmetryKind.Rotation, f.Target));
            if (!coveredByRotation) diagnostics.Add(DiagnosticCatalog.SymmetryNotDeclared(f.Span, spelled));
            result.Add(new SymmetryIR(spelled, f.Kind, f.Target, f.Dim, f.Blocks, f.Actions, false, true, f.Span));
        }
        return result;
    }
}
