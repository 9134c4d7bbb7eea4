using SymDsl.IR;
using SymDsl.Vocabulary;

namespace SymDsl.Symmetries;

/// <summary>
/// Symmetry inference by propagation (docs/language.md, "The symmetry calculus"): for each group kind, the model's unit
/// axes are partitioned into spaces (<see cref="Spaces"/>); a group acting on a space is a symmetry when every op the space
/// reaches keeps, absorbs or carries it, for the loss <see cref="LossBinding"/> binds. Symmetries inside a layer (attention's
/// query–key product) come from the layer's definition.
/// </summary>
public sealed class SymmetryInference
{
    static readonly SymmetryKind[] Kinds = Enum.GetValues<SymmetryKind>();

    /// <summary>The spellings of the kinds, in <see cref="SymmetryKind"/> order: permutation, rescale, …</summary>
    public static readonly IReadOnlyList<string> KindNames = Enum.GetNames<SymmetryKind>().Select(k => k.ToLowerInvariant()).ToArray();

    readonly ModelIR model;
    readonly LossBinding loss;
    readonly Dictionary<SymmetryKind, Spaces> spaces = new();

    public SymmetryInference(ModelIR model, LossBinding loss)
    {
        this.model = model;
        this.loss = loss;
    }

    public ModelIR Model => model;
    public LossBinding Loss => loss;

    public static string Spell(SymmetryKind k, string target) => $"{KindNames[(int)k]}({target})";

    public static SymmetryKind? ParseKind(string text)
    {
        for (int i = 0; i < KindNames.Count; i++) if (KindNames[i] == text) return (SymmetryKind)i;
        return null;
    }

    Spaces For(SymmetryKind kind)
    {
        if (!spaces.TryGetValue(kind, out var s)) spaces[kind] = s = new Spaces(model, kind);
        return s;
    }

    /// <summary>
    /// Every group acting on a space of units that some parameter action touches, with its verdict, per kind in
    /// <see cref="SymmetryKind"/> order; then the symmetries inside layers.
    /// </summary>
    public IReadOnlyList<SymmetryCandidate> Candidates()
    {
        var list = new List<SymmetryCandidate>();
        foreach (var kind in Kinds)
        {
            if (kind == SymmetryKind.Translation)
            {
                foreach (var flow in Shifts().All()) list.Add(Shift(flow, null));
                continue;
            }
            var sp = For(kind);
            foreach (var (space, actions, obstacles, exact, dim) in sp.All())
            {
                // A permutation of one unit is the trivial group; a scale whose factors cancel on every parameter (a layer
                // applied to its own output: c W / c) moves nothing. Neither is a symmetry worth naming or refuting.
                var acting = kind == SymmetryKind.Scale ? Net(actions) : actions;
                if (acting.Count > 0 && !(kind == SymmetryKind.Permutation && dim < 2)) list.Add(Make(kind, sp, space, acting, obstacles, exact, dim, null));
            }
        }
        // In graph order: per named site (the node that names the space), its kinds in SymmetryKind order; then unnamed spaces;
        // then the symmetries inside layers.
        var ordered = list.OrderBy(c => c.Target is not null && model.Site(c.Target) is { } n ? n.Id : int.MaxValue)
            .ThenBy(c => (int)c.Kind).ToList();
        foreach (var layer in model.Layers)
            foreach (var s in LayerDefinition.Of(layer.Kind).Internal(layer))
                ordered.Add(Internal(layer, s, s.Kind));
        return ordered;
    }

    /// <summary>A scale's actions with those that cancel removed: per parameter, c^(forward − inverse).</summary>
    static List<ParamActionIR> Net(List<ParamActionIR> actions)
    {
        var result = new List<ParamActionIR>();
        foreach (var g in actions.GroupBy(a => a.Parameter))
        {
            var power = g.Count(a => a.Role == ActionRole.Forward) - g.Count(a => a.Role == ActionRole.Inverse);
            for (int i = 0; i < Math.Abs(power); i++) result.Add(new ParamActionIR(g.Key, -1, power > 0 ? ActionRole.Forward : ActionRole.Inverse));
        }
        return result;
    }

    Shifts? shifts;
    Shifts Shifts() => shifts ??= new Shifts(model, loss);

    /// <summary>The candidate of one shift flow; named by <paramref name="written"/>, else the emitter's output site, else the
    /// first named site the shift reaches.</summary>
    SymmetryCandidate Shift(Shifts.Flow flow, string? written)
    {
        var sites = flow.Reached.Select(model.Node).Where(n => n.Site is not null && model.Site(n.Site)?.Id == n.Id).Select(n => n.Site!).ToList();
        var target = written ?? (sites.Count > 0 ? sites[0] : null);
        var obs = flow.Obstacles;
        var verdict = obs.Count == 0 ? Verdict.Holds : obs.Any(o => o.Necessary) ? Verdict.DoesNotHold : Verdict.CannotProve;
        var span = target is not null && model.Site(target) is { } node ? node.Span : flow.Emitter.Span;
        return new SymmetryCandidate(SymmetryKind.Translation, target, sites, 1, 1, flow.Actions, verdict, obs, true)
            { Span = span, Space = model.Layers.ToList().IndexOf(flow.Emitter), BufferActions = flow.BufferActions };
    }

    SymmetryCandidate Make(SymmetryKind kind, Spaces sp, int space, List<ParamActionIR> actions, List<Obstacle> obstacles, bool exact, int dim, string? written)
    {
        var sites = sp.SitesOf(space);
        var target = written ?? (sites.Count > 0 ? sites[^1] : null);
        var obs = obstacles.ToList();
        if (actions.Count == 0 && obs.Count == 0)
            obs.Add(new Obstacle(target is null ? "the site" : $"'{target}'", Text.SourceSpan.None(model.Span.File), "has units no parameter acts on", Necessary: true));
        var verdict = obs.Count == 0 ? Verdict.Holds : obs.Any(o => o.Necessary) ? Verdict.DoesNotHold : Verdict.CannotProve;
        var span = target is not null && model.Site(target) is { } node ? node.Span : model.Span;
        // One scalar acts for a translation (c·1) and a scale (c > 0), one per unit for the others.
        var groupDim = kind is SymmetryKind.Translation or SymmetryKind.Scale ? 1 : dim;
        return new SymmetryCandidate(kind, target, sites, groupDim, 1, actions, verdict, obs, exact) { Span = span, Space = space, BufferActions = sp.BuffersOf(space) };
    }

    SymmetryCandidate Internal(LayerIR layer, LayerSymmetry s, SymmetryKind kind)
        => new(kind, $"{layer.Name}.{s.Part}", [], s.Dim, s.Blocks, s.Actions, Verdict.Holds, [], true) { Span = layer.Span };

    /// <summary>
    /// The group <paramref name="kind"/> at <paramref name="target"/> as written (a site, or "layer.part"), with its verdict;
    /// or null and why <paramref name="target"/> is not something a symmetry can act at.
    /// </summary>
    public (SymmetryCandidate? Candidate, string? NotATarget) At(SymmetryKind kind, string target)
    {
        var dot = target.LastIndexOf('.');
        if (dot > 0 && model.FindLayer(target[..dot]) is { } layer)
        {
            var part = target[(dot + 1)..];
            var def = LayerDefinition.Of(layer.Kind);
            if (!def.InternalParts.Contains(part))
                return (null, def.InternalParts.Count == 0
                    ? $"{layer.Kind} '{layer.Name}' has no symmetry inside it; a symmetry acts at a named value such as `h = relu(fc1(x))`"
                    : $"{layer.Kind} '{layer.Name}' has {string.Join(", ", def.InternalParts.Select(p => $"{layer.Name}.{p}"))} inside it, not {target}");
            var inside = def.Internal(layer).Where(s => s.Part == part).ToList();
            if (inside.FirstOrDefault(s => s.Kind == kind) is { } exact) return (Internal(layer, exact, kind), null);
            // Permutations, positive diagonals and signs are subgroups of GL: where GL acts, they act with the same actions.
            if (kind is SymmetryKind.Permutation or SymmetryKind.Rescale or SymmetryKind.Sign
                && inside.FirstOrDefault(s => s.Kind == SymmetryKind.Rotation) is { } gl)
                return (Internal(layer, gl, kind), null);
            var what = inside.Count == 0 ? "no group" : string.Join(" or ", inside.Select(s => KindNames[(int)s.Kind]));
            return (new SymmetryCandidate(kind, target, [], 1, 1, [], Verdict.DoesNotHold,
                [new Obstacle($"{layer.Kind} '{layer.Name}'", layer.Span, $"has only {what} acting on {target}", Necessary: true)], true) { Span = layer.Span }, null);
        }

        var node = model.Site(target);
        if (node is null || node.Op == OpKind.Input) return (null, $"'{target}' is not a named site");
        if (node.Type != ElementType.Float32) return (null, $"'{target}' holds token ids, which have no units to transform");
        // translation(p) with p = softmax(z) means the shift of the logits z under it.
        if (kind == SymmetryKind.Translation && node.Op == OpKind.Activation && node.Attr("fn") == "softmax")
            node = model.Node(node.Inputs[0]);
        if (kind == SymmetryKind.Translation)
        {
            // The shift of the layer that produces the site, else of any layer whose shift reaches it (one that holds first).
            var flows = Shifts().Reaching(node.Id).ToList();
            var candidates = flows.Select(f => (Flow: f, Candidate: Shift(f, target))).ToList();
            var own = candidates.FirstOrDefault(c => node.Op == OpKind.Layer && node.Attr("layer") == c.Flow.Emitter.Name).Candidate;
            var chosen = own is { Verdict: Verdict.Holds } ? own
                : candidates.Select(c => c.Candidate).FirstOrDefault(c => c.Verdict == Verdict.Holds) ?? own ?? candidates.FirstOrDefault().Candidate;
            if (chosen is not null) return (chosen, null);
            var producer = node.Op == OpKind.Layer ? model.Layer(node.Attr("layer")) : null;
            var why = producer is not null ? $"{producer.Kind} '{producer.Name}'" : $"'{target}'";
            return (new SymmetryCandidate(kind, target, [target], 1, 1, [], Verdict.DoesNotHold,
                [new Obstacle(why, producer?.Span ?? node.Span, producer is not null ? "has no bias (or other parameter) that shifts its output" : "is reached by no parameter that shifts it", Necessary: true)], true) { Span = node.Span }, null);
        }
        var sp = For(kind);
        var space = sp.SpaceOf(node.Id);
        var (actions, obstacles, exactness, dim) = sp.Of(space);
        return (Make(kind, sp, space, kind == SymmetryKind.Scale ? Net(actions) : actions, obstacles, exactness, dim, target), null);
    }

    /// <summary>Whether two candidates are the same group on the same space.</summary>
    public static bool SameSpace(SymmetryCandidate a, SymmetryCandidate b)
        => a.Kind == b.Kind && (a.Space >= 0 ? a.Space == b.Space : a.Target == b.Target);
}
