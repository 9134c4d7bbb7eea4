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
    /// <summary>How the group moves layers' buffers (<see cref="SymmetryIR.BufferActions"/>).</summary>
    public IReadOnlyList<ParamActionIR> BufferActions { get; init; } = [];
    /// <summary>The space's identity within its kind (equal for two sites of one space).</summary>
    internal int Space { get; init; } = -1;
    /// <summary>The verdict depends on the loss a train block binds (translation of an output).</summary>
    public bool LossDependent => Obstacles.Any(o => o.LossDependent);

    public SymmetryIR ToIR(string? name = null, string? target = null, bool declared = false, SourceSpan? span = null)
    {
        var t = target ?? Target ?? "?";
        return new SymmetryIR(name ?? SymmetryInference.Spell(Kind, t), Kind, t, Dim, Blocks, Actions, declared, Verdict == Verdict.Holds, span ?? Span)
            { Exact = Exact, BufferActions = BufferActions.Count > 0 ? BufferActions : SymmetryIR.NoBufferActions };
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
/// The symmetry calculus for one linear group kind (every kind but translation, see <see cref="Shifts"/>) over one model:
/// every unit axis (a node's unit axis, <see cref="UnitAxes"/>; a layer's input and output
/// units) is a port; ops link ports into spaces, act on parameters at them, absorb the group, or block it. A space whose
/// ports are all absorbed, kept or carried holds the group. A port may hold its space's units tiled: each unit repeated over
/// <c>m</c> consecutive entries (the channels of a flattened <c>[C, H, W]</c>, m = H·W); an action at such a port acts on
/// groups of m entries (<see cref="ParamActionIR.Unit"/>). See docs/language.md, "The symmetry calculus".
/// </summary>
sealed class Spaces
{
    readonly ModelIR model;
    readonly SymmetryKind kind;
    readonly int[] parent;
    readonly int[] size;
    /// <summary>Entries per unit of the parent port (1 unless tiled); relative to the root after <see cref="Find"/>.</summary>
    readonly int[] mult;
    /// <summary>Each node's unit axis (<see cref="UnitAxes"/>).</summary>
    readonly int[] axis;
    readonly Stack<int> path = new();
    readonly Dictionary<string, int> layerIndex = new();
    readonly List<(int Port, ParamActionIR Action)> actions = [];
    readonly List<(int Port, ParamActionIR Action)> bufferActions = [];
    readonly List<(int Port, Obstacle Obstacle)> obstacles = [];
    readonly HashSet<int> inexact = [];
    readonly int nodeCount;

    public Spaces(ModelIR model, SymmetryKind kind)
    {
        if (kind == SymmetryKind.Translation) throw new ArgumentException("translation is followed by Shifts, not by spaces", nameof(kind));
        this.model = model;
        this.kind = kind;
        nodeCount = model.Nodes.Count;
        for (int i = 0; i < model.Layers.Count; i++) layerIndex.TryAdd(model.Layers[i].Name, i);
        parent = new int[nodeCount + 2 * model.Layers.Count];
        size = new int[parent.Length];
        mult = new int[parent.Length];
        axis = UnitAxes.Of(model);
        for (int i = 0; i < parent.Length; i++) { parent[i] = i; mult[i] = 1; }
        foreach (var n in model.Nodes) size[n.Id] = n.Shape.Count == 0 ? 0 : n.Shape[axis[n.Id]];
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
        var r = p;
        while (parent[r] != r) { path.Push(r); r = parent[r]; }
        // From the port nearest the root down: each multiplier becomes relative to the root.
        while (path.Count > 0)
        {
            var q = path.Pop();
            if (parent[q] != r) mult[q] = checked(mult[q] * mult[parent[q]]);
            parent[q] = r;
        }
        return r;
    }

    void Union(int a, int b) => Tile(a, b, 1);

    /// <summary>Entries per unit of the space at <paramref name="port"/> (1 unless the port holds its units tiled).</summary>
    int Mult(int port) { Find(port); return mult[port]; }

    /// <summary>
    /// Links <paramref name="b"/> to <paramref name="a"/> as the same units, each repeated over <paramref name="factor"/>
    /// consecutive entries of <paramref name="b"/>; false (nothing linked) when that contradicts how the two are already linked.
    /// </summary>
    bool Tile(int a, int b, int factor)
    {
        int ra = Find(a), rb = Find(b);
        long want = (long)mult[a] * factor, mb = mult[b];
        if (ra == rb) return mb == want;
        if (want == mb) parent[Math.Max(ra, rb)] = Math.Min(ra, rb);
        else if (want % mb == 0) { parent[rb] = ra; mult[rb] = checked((int)(want / mb)); }
        else if (mb % want == 0) { parent[ra] = rb; mult[ra] = checked((int)(mb / want)); }
        else return false;
        return true;
    }

    /// <summary>The space of a node's units (its unit axis).</summary>
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
                    var layer = model.Layers[li];
                    var def = LayerDefinition.Of(layer.Kind);
                    if (x is not null && HasUnits(x) && def.HasInputUnits)
                    {
                        var reads = UnitAxes.Normalize(def.UnitAxis, x.Shape.Count);
                        if (reads == axis[x.Id]) Union(x.Id, In(li));
                        else
                        {
                            // The layer acts along another axis than its input's units (a Linear over the positions of a
                            // [C, L] value): neither the units of the input nor the layer's input port are followed through.
                            var op = $"{layer.Kind} '{layer.Name}'";
                            Block(x.Id, op, n.Span, $"acts along axis {reads} of its input, whose units are on axis {axis[x.Id]}; the calculus does not follow units through a layer acting along another axis", necessary: false);
                            Block(In(li), op, n.Span, $"reads axis {reads} of its input, which holds no units of the model (they are on axis {axis[x.Id]})", necessary: false);
                        }
                    }
                    Union(n.Id, Out(li));
                    break;
                }
                case OpKind.Activation:
                    Function(n, x!);
                    break;
                case OpKind.Add:
                case OpKind.Sub:
                    if (SameAxes(n, n.Op == OpKind.Add ? "'+'" : "'-'"))
                        foreach (var i in n.Inputs) Union(i, n.Id);
                    break;
                case OpKind.Mul:
                    products.Add(n);
                    break;
                case OpKind.Scale:
                    Union(x!.Id, n.Id);
                    break;
                case OpKind.Last:
                case OpKind.Mean:
                    // Over the sequence axis (axis 0): units on a later axis are kept.
                    if (axis[x!.Id] > 0) { Union(x.Id, n.Id); break; }
                    Block(x.Id, $"{n.Op.ToString().ToLowerInvariant()}(...)", n.Span, "reduces over axis 0, where its input's units are; the calculus has no rule for it", necessary: false);
                    Block(n.Id, $"{n.Op.ToString().ToLowerInvariant()}(...)", n.Span, "makes new units (positions), which no parameter produces", necessary: false);
                    break;
                case OpKind.Flatten:
                    if (x!.Shape.Count == 1) { Union(x.Id, n.Id); break; }
                    if (axis[x.Id] == 0)
                    {
                        // [C, H, W] → [C·H·W], C-major: channel c is the H·W consecutive entries from c·H·W, so the channel
                        // group acts on the flattened units tiled (a consumer's action there has Unit = H·W).
                        var per = x.Shape.Skip(1).Aggregate(1, (a, d) => checked(a * d));
                        if (!Tile(x.Id, n.Id, per))
                        {
                            Block(x.Id, "flatten(...)", n.Span, "tiles units that are already linked to its output differently", necessary: false);
                            Block(n.Id, "flatten(...)", n.Span, "tiles units that are already linked to its input differently", necessary: false);
                        }
                        break;
                    }
                    Block(x.Id, "flatten(...)", n.Span, $"repeats the units of {Semantics.Names.Shape(x.Shape)} at every position; the calculus does not express that repeated action", necessary: false);
                    Block(n.Id, "flatten(...)", n.Span, "makes new units (positions of a flattened tensor), which no parameter produces", necessary: true);
                    break;
                default:
                    Block(n.Id, n.Op.ToString(), n.Span, "has no rule in the calculus", necessary: false);
                    break;
            }
        }

        foreach (var n in products) Product(n);

        foreach (var o in model.Outputs)
        {
            var n = model.Node(o.Node);
            if (!HasUnits(n)) continue;
            Block(n.Id, $"the output '{o.Name}'", n.Span, "is compared with its target, which fixes its units", necessary: true);
        }
    }

    readonly List<NodeIR> products = [];

    /// <summary>
    /// x ⊙ y. A permutation moves both factors and the product alike. A sign flip s of both factors cancels: x and y are one
    /// space, and the product is unchanged, so it belongs to no space the group moves. A rescale D or scale c of both
    /// factors scales the product by D² or c², which a consumer could absorb but the calculus does not express; a change of
    /// basis does not commute with the product at all.
    /// </summary>
    void Product(NodeIR n)
    {
        int a = n.Inputs[0], b = n.Inputs[^1];
        if (!SameAxes(n, "the product (*)")) return;
        switch (kind)
        {
            case SymmetryKind.Permutation:
                Union(a, n.Id); Union(b, n.Id);
                break;
            case SymmetryKind.Sign:
                // Flipping both factors with one s leaves the product unchanged: the factors are one space, and the product
                // belongs to none the group moves. (Flipping one factor alone flips the product: a different symmetry, which
                // the calculus does not look for.)
                Union(a, b);
                Block(n.Id, "the product (*)", n.Span, "is unchanged when both its factors flip, so its units cannot flip with them", necessary: true);
                break;
            case SymmetryKind.Rescale:
            case SymmetryKind.Scale:
                Union(a, n.Id); Union(b, n.Id);
                Block(n.Id, "the product (*)", n.Span, "scales by the square of the factors' scale, which the calculus does not express", necessary: false);
                break;
            default:
                Union(a, n.Id); Union(b, n.Id);
                Block(n.Id, "the product (*)", n.Span, "moves with both factors: A x ⊙ A y ≠ A (x ⊙ y)", necessary: true);
                break;
        }
    }

    /// <summary>
    /// Whether the operands of an elementwise op <paramref name="n"/> have their units on one axis; when they do not, every
    /// operand and the result are blocked (the calculus cannot follow a group acting on different axes of a sum).
    /// </summary>
    bool SameAxes(NodeIR n, string op)
    {
        if (n.Inputs.All(i => axis[i] == axis[n.Id])) return true;
        var axes = string.Join(" and ", n.Inputs.Select(i => $"axis {axis[i]}"));
        foreach (var i in n.Inputs.Append(n.Id))
            Block(i, op, n.Span, $"combines values whose units lie on different axes ({axes}); the calculus does not follow that", necessary: false);
        return false;
    }

    /// <summary>Whether a function node acts over the units (its unit axis <paramref name="unitAxis"/>): softmax's <c>dim</c>,
    /// when it has one.</summary>
    internal static bool OverUnits(NodeIR n, int unitAxis, out Value? dim)
        => !n.Attrs.TryGetValue("dim", out dim) || UnitAxes.Normalize((int)dim.AsInt(), n.Shape.Count) == unitAxis;

    void Function(NodeIR n, NodeIR x)
    {
        var f = Functions.Get(n.Attr("fn"));
        var op = $"{f.Name}(...)";
        if (f.Has(FunctionProperties.OverPositions) && axis[x.Id] != 0)
        {
            // Pooling mixes the positions of each channel (axis 0); here the positions are the units.
            Block(x.Id, op, n.Span, $"pools along the axis of its input's units (axis {axis[x.Id]}), not along positions of channels on axis 0; the calculus has no rule for it", necessary: false);
            Block(n.Id, op, n.Span, "makes new units (pooled positions), which no parameter produces", necessary: false);
            return;
        }
        var overUnits = OverUnits(n, axis[x.Id], out var dim);
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

    IReadOnlyList<(int Space, List<ParamActionIR> Actions, List<Obstacle> Obstacles, bool Exact, int Dim)>? all;
    Dictionary<int, int>? index;
    Dictionary<int, List<string>>? sites;

    /// <summary>Every space (root port) with what acts on it, in root order (computed once: the graph is fixed).</summary>
    public IReadOnlyList<(int Space, List<ParamActionIR> Actions, List<Obstacle> Obstacles, bool Exact, int Dim)> All()
    {
        if (all is not null) return all;
        var roots = new SortedDictionary<int, (List<ParamActionIR> Actions, List<Obstacle> Obstacles, bool Exact, int Dim)>();
        (List<ParamActionIR>, List<Obstacle>, bool, int) Get(int port)
        {
            var r = Find(port);
            if (!roots.TryGetValue(r, out var v)) roots[r] = v = ([], [], true, size[port] / mult[port]);
            return v;
        }
        foreach (var (p, a) in actions)
        {
            var m = Mult(p);
            Get(p).Item1.Add(m == 1 || a.Axis < 0 ? a : a with { Unit = checked(a.Unit * m) });
        }
        foreach (var (p, o) in obstacles) { var v = Get(p); if (!v.Item2.Contains(o)) v.Item2.Add(o); }
        foreach (var p in inexact) { var r = Find(p); var v = Get(p); roots[r] = v with { Item3 = false }; }
        all = roots.Select(kv => (kv.Key, kv.Value.Actions, kv.Value.Obstacles, kv.Value.Exact, kv.Value.Dim)).ToList();
        index = new Dictionary<int, int>();
        for (int i = 0; i < all.Count; i++) index[all[i].Space] = i;
        return all;
    }

    /// <summary>What acts on one space (possibly nothing).</summary>
    public (List<ParamActionIR> Actions, List<Obstacle> Obstacles, bool Exact, int Dim) Of(int space)
    {
        All();
        if (index!.TryGetValue(space, out var i)) return (all![i].Actions, all[i].Obstacles, all[i].Exact, all[i].Dim);
        return ([], [], true, space < size.Length ? size[space] : 0);
    }

    /// <summary>The buffer actions on one space (<see cref="SymmetryIR.BufferActions"/>).</summary>
    public List<ParamActionIR> BuffersOf(int space)
        => bufferActions.Where(b => Find(b.Port) == Find(space)).Select(b => b.Action).ToList();

    /// <summary>Named sites per space, in graph order (the last node of each name).</summary>
    public IReadOnlyList<string> SitesOf(int space)
    {
        if (sites is null)
        {
            sites = new Dictionary<int, List<string>>();
            foreach (var n in model.Nodes)
                if (n.Site is not null && HasUnits(n) && model.Site(n.Site)?.Id == n.Id && Mult(n.Id) == 1)
                {
                    var r = Find(n.Id);
                    if (!sites.TryGetValue(r, out var list)) sites[r] = list = [];
                    list.Add(n.Site);
                }
        }
        return sites.TryGetValue(space, out var l) ? l : [];
    }

    sealed class Rule(Spaces spaces, LayerIR layer, int index) : ISpaceRule
    {
        readonly HashSet<Port> said = [];
        public LayerIR Layer => layer;
        int PortOf(Port p) => p == Port.In ? spaces.In(index) : spaces.Out(index);
        bool Exists(Port p) => p == Port.Out || LayerDefinition.Of(layer.Kind).HasInputUnits;

        public bool Has(string local) => layer.HasParameter(local);

        public void Act(Port port, string local, int axis, ActionRole role, int unit = 1)
        {
            if (!Has(local)) throw new InvalidOperationException($"{layer.Kind} rule acts on {layer.Name}.{local}, which the layer does not have");
            said.Add(port);
            spaces.actions.Add((PortOf(port), new ParamActionIR($"{layer.Name}.{local}", axis, role, unit)));
        }

        public void ActOnBuffer(Port port, string local, int axis, ActionRole role)
            => spaces.bufferActions.Add((PortOf(port), new ParamActionIR($"{layer.Name}.{local}", axis, role)));

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
