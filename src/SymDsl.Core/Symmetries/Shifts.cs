using SymDsl.IR;
using SymDsl.Text;
using SymDsl.Vocabulary;

namespace SymDsl.Symmetries;

/// <summary>
/// Translation in the calculus. A shift is affine, not linear: adding c·1 to one operand of a sum shifts the sum, and the
/// other operand need not move. So a shift is followed forward from where a parameter emits it (a bias, a LayerNorm's β,
/// an embedding table) through the ops that pass a constant shift on (aliases, +, −, a constant factor, mean, last), to the
/// ops that absorb it (softmax over the units, a LayerNorm's mean, a cross-entropy loss); anything else it reaches blocks it.
/// One candidate per emitting layer; its sites are the named values the shift reaches.
/// </summary>
sealed class Shifts
{
    readonly ModelIR model;
    readonly LossBinding loss;
    readonly List<int>[] consumers;
    readonly Dictionary<string, Recorded> rules = new();
    readonly Dictionary<string, List<int>> applications = new();
    readonly int[] axes;

    public Shifts(ModelIR model, LossBinding loss)
    {
        this.model = model;
        this.loss = loss;
        axes = UnitAxes.Of(model);
        consumers = new List<int>[model.Nodes.Count];
        for (int i = 0; i < consumers.Length; i++) consumers[i] = [];
        foreach (var n in model.Nodes)
            foreach (var i in n.Inputs.Distinct())
                consumers[i].Add(n.Id);
        foreach (var n in model.Nodes)
            if (n.Op == OpKind.Layer)
            {
                var name = n.Attr("layer");
                if (!applications.TryGetValue(name, out var list)) applications[name] = list = [];
                list.Add(n.Id);
            }
        foreach (var l in model.Layers)
        {
            var r = new Recorded(l);
            LayerDefinition.Of(l.Kind).Relate(SymmetryKind.Translation, r);
            rules.TryAdd(l.Name, r);
        }
    }

    /// <summary>A shift emitted by one layer: where it goes and what stops it.</summary>
    public sealed record Flow(LayerIR Emitter, IReadOnlyList<ParamActionIR> Actions, IReadOnlyList<int> Reached, IReadOnlyList<Obstacle> Obstacles)
    {
        /// <summary>Buffers of the layers that absorb the shift at their input (a BatchNorm's running mean).</summary>
        public List<ParamActionIR> BufferActions { get; } = [];
    }

    List<Flow>? flows;

    /// <summary>Every layer that emits a shift, with its flow (followed once: the graph is fixed).</summary>
    public IReadOnlyList<Flow> All()
        => flows ??= model.Layers.Where(l => rules[l.Name].OutActions.Count > 0).Select(Follow).ToList();

    /// <summary>The layers whose shift reaches <paramref name="node"/>.</summary>
    public IEnumerable<Flow> Reaching(int node) => All().Where(f => f.Reached.Contains(node));

    Flow Follow(LayerIR emitter)
    {
        var rule = rules[emitter.Name];
        var obstacles = new List<Obstacle>();
        foreach (var (why, necessary) in rule.OutBlocks)
            obstacles.Add(new Obstacle($"{emitter.Kind} '{emitter.Name}'", emitter.Span, why, necessary));
        var reached = new List<int>();
        var buffers = new List<ParamActionIR>();
        var queue = new Queue<int>(applications.TryGetValue(emitter.Name, out var apps) ? apps : []);
        var seen = new HashSet<int>(queue);
        void Add(Obstacle o) { if (!obstacles.Contains(o)) obstacles.Add(o); }
        while (queue.Count > 0)
        {
            var id = queue.Dequeue();
            reached.Add(id);
            var node = model.Node(id);
            if (model.Outputs.FirstOrDefault(o => o.Node == id) is { } output) Output(output, node, Add);
            foreach (var c in consumers[id])
            {
                var cn = model.Node(c);
                if (Passes(cn, id, Add) && seen.Add(c)) queue.Enqueue(c);
                else if (cn.Op == OpKind.Layer && rules[cn.Attr("layer")] is { InAbsorbed: true } absorber)
                    foreach (var b in absorber.InBufferActions) if (!buffers.Contains(b)) buffers.Add(b);
            }
        }
        var flow = new Flow(emitter, rule.OutActions, reached, obstacles);
        flow.BufferActions.AddRange(buffers);
        return flow;
    }

    /// <summary>Whether the shift of input <paramref name="from"/> goes on to <paramref name="n"/>'s output; records what stops it.</summary>
    bool Passes(NodeIR n, int from, Action<Obstacle> block)
    {
        switch (n.Op)
        {
            case OpKind.Add:
            case OpKind.Sub:
            case OpKind.Scale:   // a constant factor scales the shift: still a constant shift
            case OpKind.Mean:
            case OpKind.Last:
                return true;
            case OpKind.Flatten:  // c·1 on every position is c·1 on the flattened units
                return true;
            case OpKind.Mul:
                block(new Obstacle("the product (*)", n.Span, "turns a shift of one factor into (x + c) ⊙ y, which is not a shift", Necessary: true));
                return false;
            case OpKind.Activation:
            {
                var f = Functions.Get(n.Attr("fn"));
                var overUnits = Spaces.OverUnits(n, axes[n.Inputs[0]], out var dim);
                if (f.Has(FunctionProperties.ShiftInvariant) && overUnits) return false; // absorbed: softmax(z + c·1) = softmax(z)
                var (passes, why, necessary) = f.Commutes(SymmetryKind.Translation);
                if (passes) return true;
                block(new Obstacle($"{f.Name}(...)", n.Span, overUnits ? why! : $"over axis {dim} mixes positions, not units", overUnits && necessary));
                return false;
            }
            case OpKind.Layer:
            {
                var layer = model.Layer(n.Attr("layer"));
                var rule = rules[layer.Name];
                foreach (var (why, necessary) in rule.InBlocks)
                    block(new Obstacle($"{layer.Kind} '{layer.Name}'", n.Span, why, necessary));
                if (!rule.InAbsorbed && rule.InBlocks.Count == 0)
                    block(new Obstacle($"{layer.Kind} '{layer.Name}'", n.Span, "says nothing about translation at its input in its definition", Necessary: false));
                return false;
            }
            default:
                block(new Obstacle(n.Op.ToString(), n.Span, "has no rule in the calculus", Necessary: false));
                return false;
        }
    }

    void Output(OutputIR o, NodeIR n, Action<Obstacle> block)
    {
        var op = $"the output '{o.Name}'";
        if (!loss.Known)
            block(new Obstacle(op, n.Span, "is read by no train block's loss, and whether a shift of it matters depends on that loss", Necessary: false, LossDependent: true));
        else if (loss.Losses.TryGetValue(o.Name, out var l) && l.ShiftInvariant) { /* absorbed by the loss */ }
        else if (loss.Losses.TryGetValue(o.Name, out l))
            block(new Obstacle(op, n.Span, $"is read by the loss {loss.Describe ?? l.Name}, which is not shift-invariant", Necessary: true, LossDependent: true));
        else
            block(new Obstacle(op, n.Span, "is a model output the train block's loss does not read, so it stays fixed", Necessary: true, LossDependent: true));
    }

    /// <summary>What a layer's rule says about translation, port by port.</summary>
    sealed class Recorded(LayerIR layer) : ISpaceRule
    {
        public readonly List<ParamActionIR> OutActions = [];
        public readonly List<(string Why, bool Necessary)> InBlocks = [];
        public readonly List<(string Why, bool Necessary)> OutBlocks = [];
        public bool InAbsorbed;
        public readonly List<ParamActionIR> InBufferActions = [];

        public LayerIR Layer => layer;
        public bool Has(string local) => layer.HasParameter(local);

        public void Act(Port port, string local, int axis, ActionRole role, int unit = 1)
        {
            if (port == Port.Out) OutActions.Add(new ParamActionIR($"{layer.Name}.{local}", axis, role, unit));
            else InBlocks.Add(("moves its parameters with a shift of its input, which the calculus does not follow", false));
        }

        public void Absorb(Port port, bool exact = true) { if (port == Port.In) InAbsorbed = true; }
        public void ActOnBuffer(Port port, string local, int axis, ActionRole role)
        {
            if (port == Port.In) InBufferActions.Add(new ParamActionIR($"{layer.Name}.{local}", axis, role));
        }
        public void Link() => InBlocks.Add(("links its input to its output, which the calculus does not follow for a shift", false));
        public void Block(Port port, string why, bool necessary) => (port == Port.In ? InBlocks : OutBlocks).Add((why, necessary));
    }
}
