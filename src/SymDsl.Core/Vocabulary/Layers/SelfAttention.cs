using SymDsl.IR;

namespace SymDsl.Vocabulary.Layers;

/// <summary>
/// <c>SelfAttention(d, heads, causal, bias)</c>: q, k, v, o projections [d, d] (with biases); head h owns rows
/// h·dh … (h+1)·dh − 1 of q/k/v and the same columns of o, dh = d / heads.
/// </summary>
public sealed class SelfAttention : LayerDefinition
{
    public override LayerKind Kind => LayerKind.SelfAttention;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["d"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["d"].AsInt();
    public override IReadOnlyList<string> InternalParts => ["qk", "vo", "heads"];

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        if (IsLinearGroup(kind))
        {
            LinearMap(kind, rule, [("q.weight", 1), ("k.weight", 1), ("v.weight", 1)], [("o.weight", 0), ("o.bias", 0)]);
            return;
        }
        rule.Block(Port.In, "mixes its inputs in its projections, so a shift of them is not absorbed", necessary: !rule.Has("q.bias"));
        if (rule.Has("o.bias")) rule.Act(Port.Out, "o.bias", 0, ActionRole.Shift);
        else rule.Block(Port.Out, "has no output bias to shift", necessary: true);
    }

    public override IEnumerable<LayerSymmetry> Internal(LayerIR layer)
    {
        var d = (int)layer.Args["d"].AsInt();
        var heads = (int)layer.Args["heads"].AsInt();
        var dh = d / heads;
        var bias = layer.Args.Bool("bias", true);
        string P(string local) => $"{layer.Name}.{local}";
        List<ParamActionIR> Actions(params (string Local, int Axis, ActionRole Role, bool IsBias)[] items)
            => items.Where(i => bias || !i.IsBias).Select(i => new ParamActionIR(P(i.Local), i.Axis, i.Role)).ToList();

        // qᵀk per head is unchanged by q → A q, k → A⁻ᵀ k (A ∈ GL(dh)); o·v per head by v → A v, o → o A⁻¹.
        yield return new LayerSymmetry(SymmetryKind.Rotation, "qk", dh, heads, Actions(
            ("q.weight", 0, ActionRole.Forward, false), ("q.bias", 0, ActionRole.Forward, true),
            ("k.weight", 0, ActionRole.Inverse, false), ("k.bias", 0, ActionRole.Inverse, true)));
        yield return new LayerSymmetry(SymmetryKind.Rotation, "vo", dh, heads, Actions(
            ("v.weight", 0, ActionRole.Forward, false), ("v.bias", 0, ActionRole.Forward, true),
            ("o.weight", 1, ActionRole.Inverse, false)));
        // The heads are summed by o: permuting whole heads (dh rows of q, k, v, dh columns of o) changes nothing.
        if (heads > 1)
            yield return new LayerSymmetry(SymmetryKind.Permutation, "heads", heads, 1,
                Actions(("q.weight", 0, ActionRole.Forward, false), ("q.bias", 0, ActionRole.Forward, true),
                        ("k.weight", 0, ActionRole.Forward, false), ("k.bias", 0, ActionRole.Forward, true),
                        ("v.weight", 0, ActionRole.Forward, false), ("v.bias", 0, ActionRole.Forward, true),
                        ("o.weight", 1, ActionRole.Inverse, false))
                .Select(a => a with { Unit = dh }).ToList());
    }
}
