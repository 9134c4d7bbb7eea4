using SymDsl.IR;
using SymDsl.Text;
using SymDsl.Vocabulary;

namespace SymDsl.Symmetries;

/// <summary>The calculus's answer for one group acting on one space of units.</summary>
public enum Verdict
{
    /// <summary>Every op the space reaches absorbs, keeps or carries the group: a symmetry (exactly, or up to a LayerNorm's eps).</summary>
    Holds,
    /// <summary>Some op fails a rule that is necessary: for almost every parameter value the group changes the function.</summary>
    DoesNotHold,
    /// <summary>Some op fails a rule the calculus cannot decide (e.g. an action it does not express); <c>check --verify</c> decides.</summary>
    CannotProve,
}

/// <summary>An op that stops a group: what it is, where, why, and whether that rule is necessary.</summary>
public sealed record Obstacle(string Op, SourceSpan Span, string Reason, bool Necessary, bool LossDependent = false)
{
    public override string ToString() => Span.IsNone ? $"{Op} {Reason}" : $"{Op} (line {Span.Line}:{Span.Column}) {Reason}";
}

/// <summary>
/// A group (<see cref="Kind"/>) acting on one space of units: the sites that belong to it, the exact parameter action, and
/// the verdict. <see cref="Target"/> is the site that names it (the last named site of the space), or "layer.part" for a
/// symmetry inside a layer; null when no site of the space has a name.
/// </summary>
public sealed record SymmetryCandidate(SymmetryKind Kind, string? Target, IReadOnlyList<string> Sites, int Dim, int Blocks,
    IReadOnlyList<ParamActionIR> Actions, Verdict Verdict, IReadOnlyList<Obstacle> Obstacles, bool Exact)
{
    public SourceSpan Span { get; init; }
    /// <summary>The space's identity within its kind (equal for two sites of one space).</summary>
    internal int Space { get; init; } = -1;
    /// <summary>The verdict depends on the loss a train block binds (translation of an output).</summary>
    public bool LossDependent => Obstacles.Any(o => o.LossDependent);

    public SymmetryIR ToIR(string? name = null, string? target = null, bool declared = false, SourceSpan? span = null)
    {
        var t = target ?? Target ?? "?";
        return new SymmetryIR(name ?? SymmetryInference.Spell(Kind, t), Kind, t, Dim, Blocks, Actions, declared, Verdict == Verdict.Holds, span ?? Span) { Exact = Exact };
    }

    /// <summary>The obstacle to name in a message: the first necessary one, else the first.</summary>
    public Obstacle? Main => Obstacles.FirstOrDefault(o => o.Necessary) ?? Obstacles.FirstOrDefault();
}

/// <summary>Which loss a train block applies to which output: what decides loss-dependent symmetries.</summary>
public sealed record LossBinding(IReadOnlyDictionary<string, LossDefinition> Losses, bool Known, string? Describe = null)
{
    /// <summary>No train block: outputs are fixed, and whether the loss absorbs a shift is unknown.</summary>
    public static readonly LossBinding None = new(new Dictionary<string, LossDefinition>(), false);

    /// <summary>A cross-entropy loss reads each of <paramref name="outputs"/>.</summary>
    public static LossBinding CrossEntropy(params string[] outputs)
        => new(outputs.ToDictionary(o => o, _ => Vocabulary.Losses.Get("cross_entropy")), true);

    /// <summary>The loss of a train block.</summary>
    public static LossBinding Of(LossIR loss)
        => new(new Dictionary<string, LossDefinition> { [loss.Output] = Vocabulary.Losses.Get(loss.Kind) }, true,
               $"{loss.Kind}({loss.Output}, {loss.Target})");
}

/// <summary>
/// The symmetry calculus for one group kind over one model: every unit axis (a node's last axis, a layer's input and output
/// units) is a port; ops link ports into spaces, act on parameters at them, absorb the group, or block it. A space whose
/// ports are all absorbed, kept or carried holds the group. See docs/language.md, "The symmetry calculus".
/// </summary>
sealed class Spaces
{
    readonly ModelIR model;
    readonly SymmetryKind kind;
    readonly LossBinding loss;
    readonly int[] parent;
    readonly int[] size;
    readonly Dictionary<string, int> layerIndex = new();
    readonly List<(int Port, ParamActionIR Action)> actions = [];
    readonly List<(int Port, Obstacle Obstacle)> obstacles = [];
    readonly HashSet<int> inexact = [];
    readonly int nodeCount;

    public Spaces(ModelIR model, SymmetryKind kind, LossBinding loss)
    {
        this.model = model;
        this.kind = kind;
        this.loss = loss;
        nodeCount = model.Nodes.Count;
        for (int i = 0; i < model.Layers.Count; i++) layerIndex.TryAdd(model.Layers[i].Name, i);
        parent = new int[nodeCount + 2 * model.Layers.Count];
        size = new int[parent.Length];
        for (int i = 0; i < parent.Length; i++) parent[i] = i;
        foreach (var n in model.Nodes) size[n.Id] = n.Shape.Count == 0 ? 0 : n.Shape[^1];
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var def = LayerDefinition.Of(model.Layers[i].Kind);
            size[In(i)] = def.HasInputUnits ? def.InputUnits(model.Layers[i]) : 0;
            size[Out(i)] = def.OutputUnits(model.Layers[i]);
        }
        Build();
    }

    int In(int layer) => nodeCount + 2 * layer;
    int Out(int layer) => nodeCount + 2 * layer + 1;

    int Find(int p)
    {
        while (parent[p] != p) { parent[p] = parent[parent[p]]; p = parent[p]; }
        return p;
    }

    void Union(int a, int b)
    {
        a = Find(a); b = Find(b);
        if (a != b) parent[Math.Max(a, b)] = Math.Min(a, b);
    }

    /// <summary>The space of a node's units (its last axis).</summary>
    public int SpaceOf(int node) => Find(node);

    bool HasUnits(NodeIR n) => n.Type == ElementType.Float32;

    void Block(int port, string op, SourceSpan span, string why, bool necessary, bool lossDependent = false)
        => obstacles.Add((port, new Obstacle(op, span, why, necessary, lossDependent)));

    void Build()
    {
        // Layers: each relates its own input and output ports once, however often it is applied.
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            var rule = new Rule(this, layer, i);
            LayerDefinition.Of(layer.Kind).Relate(kind, rule);
            rule.Finish();
        }

        foreach (var n in model.Nodes)
        {
            if (!HasUnits(n)) continue;
            var x = n.Inputs.Count > 0 ? model.Node(n.Inputs[0]) : null;
            switch (n.Op)
            {
                case OpKind.Input:
                    Block(n.Id, $"the input '{n.Attr("name")}'", n.Span, "is data: nothing can undo a change of its units", necessary: true);
                    break;
                case OpKind.Layer:
                {
                    var li = layerIndex[n.Attr("layer")];
                    if (x is not null && HasUnits(x) && LayerDefinition.Of(model.Layers[li].Kind).HasInputUnits) Union(x.Id, In(li));
                    Union(n.Id, Out(li));
                    break;
                }
                case OpKind.Activation:
                    Function(n, x!);
                    break;
                case OpKind.Add:
                case OpKind.Sub:
                    foreach (var i in n.Inputs) Union(i, n.Id);
                    break;
                case OpKind.Mul:
                    foreach (var i in n.Inputs) Union(i, n.Id);
                    if (kind != SymmetryKind.Permutation)
                        Block(n.Id, "the product (*)", n.Span, "moves with both factors: g(x) ⊙ g(y) ≠ g(x ⊙ y)", necessary: true);
                    break;
                case OpKind.Scale:
                    Union(x!.Id, n.Id);
                    if (kind == SymmetryKind.Translation && n.Attrs["factor"].AsDouble() != 1.0)
                        Block(n.Id, "the constant factor", n.Span, "scales a shift too", necessary: false);
                    break;
                case OpKind.Last:
                case OpKind.Mean:
                    // Over the sequence axis: the units (last axis) are kept.
                    Union(x!.Id, n.Id);
                    break;
                case OpKind.Flatten:
                    if (x!.Shape.Count == 1) { Union(x.Id, n.Id); break; }
                    Block(x.Id, "flatten(...)", n.Span, $"repeats the units of {Semantics.Names.Shape(x.Shape)} at every position; the calculus does not express that repeated action", necessary: false);
                    Block(n.Id, "flatten(...)", n.Span, "makes new units (positions of a flattened tensor), which no parameter produces", necessary: true);
                    break;
                default:
                    Block(n.Id, n.Op.ToString(), n.Span, "has no rule in the calculus", necessary: false);
                    break;
            }
        }

        foreach (var o in model.Outputs)
        {
            var n = model.Node(o.Node);
            if (!HasUnits(n)) continue;
            var op = $"the output '{o.Name}'";
            if (kind == SymmetryKind.Translation)
            {
                if (!loss.Known)
                    Block(n.Id, op, n.Span, "is read by no train block's loss, and whether a shift of it matters depends on that loss", necessary: false, lossDependent: true);
                else if (loss.Losses.TryGetValue(o.Name, out var l) && l.ShiftInvariant) { /* absorbed by the loss */ }
                else if (loss.Losses.TryGetValue(o.Name, out l))
                    Block(n.Id, op, n.Span, $"is read by the loss {loss.Describe ?? l.Name}, which is not shift-invariant", necessary: true, lossDependent: true);
                else
                    Block(n.Id, op, n.Span, "is a model output the train block's loss does not read, so it stays fixed", necessary: true, lossDependent: true);
            }
            else Block(n.Id, op, n.Span, "is compared with its target, which fixes its units", necessary: true);
        }
    }

    void Function(NodeIR n, NodeIR x)
    {
        var f = Functions.Get(n.Attr("fn"));
        var overUnits = !n.Attrs.TryGetValue("dim", out var dim) || dim.AsInt() == -1 || dim.AsInt() == n.Shape.Count - 1;
        var op = $"{f.Name}(...)";
        if (f.Has(FunctionProperties.ShiftInvariant) && overUnits && kind == SymmetryKind.Translation)
        {
            // softmax absorbs a shift of its input; its output is a new space that no parameter produces.
            Block(n.Id, op, n.Span, "makes probabilities, which no parameter shifts", necessary: true);
            return;
        }
        Union(x.Id, n.Id);
        if (!overUnits)
        {
            if (kind != SymmetryKind.Permutation)
                Block(n.Id, op, n.Span, $"over axis {dim} mixes positions, not units; the calculus has no rule for it", necessary: false);
            return;
        }
        var (passes, why, necessary) = f.Commutes(kind);
        if (!passes) Block(n.Id, op, n.Span, why!, necessary);
    }

    /// <summary>Every space (root port) with what acts on it.</summary>
    public IEnumerable<(int Space, List<ParamActionIR> Actions, List<Obstacle> Obstacles, bool Exact, int Dim)> All()
    {
        var roots = new SortedDictionary<int, (List<ParamActionIR>, List<Obstacle>, bool, int)>();
        (List<ParamActionIR>, List<Obstacle>, bool, int) Get(int port)
        {
            var r = Find(port);
            if (!roots.TryGetValue(r, out var v)) roots[r] = v = ([], [], true, size[port]);
            return v;
        }
        foreach (var (p, a) in actions) Get(p).Item1.Add(a);
        foreach (var (p, o) in obstacles) { var v = Get(p); if (!v.Item2.Contains(o)) v.Item2.Add(o); }
        foreach (var p in inexact) { var r = Find(p); var v = Get(p); roots[r] = v with { Item3 = false }; }
        foreach (var (r, v) in roots) yield return (r, v.Item1, v.Item2, v.Item3, v.Item4);
    }

    /// <summary>What acts on one space (possibly nothing).</summary>
    public (List<ParamActionIR> Actions, List<Obstacle> Obstacles, bool Exact, int Dim) Of(int space)
    {
        foreach (var s in All()) if (s.Space == space) return (s.Actions, s.Obstacles, s.Exact, s.Dim);
        return ([], [], true, space < size.Length ? size[space] : 0);
    }

    /// <summary>Named sites per space, in graph order (the last node of each name).</summary>
    public IReadOnlyList<string> SitesOf(int space)
        => model.Nodes.Where(n => n.Site is not null && HasUnits(n) && model.Site(n.Site)?.Id == n.Id && Find(n.Id) == space)
            .Select(n => n.Site!).ToList();

    sealed class Rule(Spaces spaces, LayerIR layer, int index) : ISpaceRule
    {
        readonly HashSet<Port> said = [];
        public LayerIR Layer => layer;
        int PortOf(Port p) => p == Port.In ? spaces.In(index) : spaces.Out(index);
        bool Exists(Port p) => p == Port.Out || LayerDefinition.Of(layer.Kind).HasInputUnits;

        public bool Has(string local) => layer.Parameters.Any(p => p.Name == $"{layer.Name}.{local}");

        public void Act(Port port, string local, int axis, ActionRole role, int unit = 1)
        {
            if (!Has(local)) throw new InvalidOperationException($"{layer.Kind} rule acts on {layer.Name}.{local}, which the layer does not have");
            said.Add(port);
            spaces.actions.Add((PortOf(port), new ParamActionIR($"{layer.Name}.{local}", axis, role, unit)));
        }

        public void Absorb(Port port, bool exact = true)
        {
            said.Add(port);
            if (!exact) spaces.inexact.Add(PortOf(port));
        }

        public void Link()
        {
            said.Add(Port.In); said.Add(Port.Out);
            spaces.Union(PortOf(Port.In), PortOf(Port.Out));
        }

        public void Block(Port port, string why, bool necessary)
        {
            said.Add(port);
            spaces.Block(PortOf(port), $"{layer.Kind} '{layer.Name}'", layer.Span, why, necessary);
        }

        public void Finish()
        {
            foreach (var p in new[] { Port.In, Port.Out })
                if (Exists(p) && !said.Contains(p))
                    spaces.Block(PortOf(p), $"{layer.Kind} '{layer.Name}'", layer.Span,
                        $"says nothing about {spaces.kind.ToString().ToLowerInvariant()} at its {(p == Port.In ? "input" : "output")} in its definition", necessary: false);
        }
    }
}
