using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

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

    public override IReadOnlyList<ArgSpec> Signature { get; } =
        [Size("d"), Size("heads"), new("causal", ArgType.Bool, new Value.Bool(false)), new("bias", ArgType.Bool, True), InitArg];

    public override Diagnostic? Validate(IReadOnlyDictionary<string, Value> args, SourceSpan span)
        => args["d"].AsInt() % args["heads"].AsInt() != 0 ? DiagnosticCatalog.HeadsDoNotDivide(span, args["d"].AsInt(), args["heads"].AsInt()) : null;

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
        => a.NeedFloat() && a.Rank(2, "[T, d]") && a.Last("d") ? [.. a.Shape] : null;

    public override void Parameters(ParameterList p)
    {
        foreach (var m in new[] { "q", "k", "v", "o" })
        {
            p.Weight($"{m}.weight", p.Int("d"), p.Int("d"));
            if (p.Bool("bias")) p.Bias($"{m}.bias", p.Int("d"));
        }
    }

    // ---------------------------------------------------------------- C# emission: one nested SelfAttentionBlock class per model

    const string BlockClass = "SelfAttentionBlock";
    public override IReadOnlyList<string> CSharpReservedNames => [BlockClass];
    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => BlockClass;

    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c)
    {
        var init = l.Parameters.Count > 0 ? l.Parameters[0].Init : InitSpec.Default;
        return $"new {BlockClass}(\"{CSharpLayerContext.Escape(l.Name)}\", {c.Arg(l, "d")}, {c.Arg(l, "heads")}, causal: {c.Arg(l, "causal")}, bias: {c.Arg(l, "bias")}{(init.Kind == "default" ? "" : $", initWeight: w => {CSharpLayerContext.InitCall("w", init)}")})";
    }

    public override void CSharpHelperClasses(IReadOnlyList<LayerIR> layers, CSharpLayerContext w)
    {
        if (layers.Count == 0) return;
        w.Line();
        w.Line("/// <summary>Multi-head self-attention on [batch, T, d]: parameters q, k, v, o (Linear d → d). Head h owns rows h*dh..(h+1)*dh-1 of q/k/v.weight.</summary>");
        w.Line("private sealed class SelfAttentionBlock : nn.Module<Tensor, Tensor>");
        w.Open();
        w.Line("private readonly Linear q;");
        w.Line("private readonly Linear k;");
        w.Line("private readonly Linear v;");
        w.Line("private readonly Linear o;");
        w.Line("private readonly long heads;");
        w.Line("private readonly bool causal;");
        w.Line();
        w.Line("public SelfAttentionBlock(string name, long d, long heads, bool causal = false, bool bias = true, Action<Tensor>? initWeight = null)");
        w.Line("    : base(name)");
        w.Open();
        w.Line("this.heads = heads;");
        w.Line("this.causal = causal;");
        w.Line("q = nn.Linear(d, d, hasBias: bias);");
        w.Line("k = nn.Linear(d, d, hasBias: bias);");
        w.Line("v = nn.Linear(d, d, hasBias: bias);");
        w.Line("o = nn.Linear(d, d, hasBias: bias);");
        w.Line("if (initWeight is not null)");
        w.Line("    using (torch.no_grad())");
        w.Line("        foreach (var lin in new[] { q, k, v, o }) initWeight(lin.weight!);");
        w.Line("RegisterComponents();");
        w.Close();
        w.Line();
        w.Line("public override Tensor forward(Tensor x)");
        w.Open();
        w.Line("long b = x.shape[0], t = x.shape[1], d = x.shape[2], dh = d / heads;");
        w.Line("Tensor Split(Tensor y) => y.view(b, t, heads, dh).transpose(1, 2); // [b, heads, t, dh]");
        w.Line("var scores = Split(q.forward(x)).matmul(Split(k.forward(x)).transpose(-2, -1)) / Math.Sqrt(dh);");
        w.Line("if (causal)");
        w.Line("    scores = scores.masked_fill(torch.ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1), double.NegativeInfinity);");
        w.Line("var mixed = torch.softmax(scores, -1).matmul(Split(v.forward(x)));");
        w.Line("return o.forward(mixed.transpose(1, 2).contiguous().view(b, t, d));");
        w.Close();
        w.Close();
    }

    // ---------------------------------------------------------------- Python emission: one SelfAttention module per file

    public override IReadOnlyList<string> PythonReservedNames => ["SelfAttention"];

    public override string PythonConstruct(LayerIR l, PythonLayerContext c)
        => $"SelfAttention({c.Arg(l, "d")}, {c.Arg(l, "heads")}, causal={c.Arg(l, "causal")}, bias={c.Arg(l, "bias")})";

    public override void PythonHelperModules(PythonLayerContext w)
    {
        foreach (var line in """"


            class SelfAttention(nn.Module):
                """Multi-head self-attention on [batch, T, d]: projections q, k, v, o (Linear d -> d).
                Head h owns rows h*dh .. (h+1)*dh-1 of q/k/v.weight and the same columns of o.weight, dh = d / heads.
                """

                def __init__(self, d, heads, causal=False, bias=True):
                    super().__init__()
                    self.heads = heads
                    self.causal = causal
                    self.q = nn.Linear(d, d, bias=bias)
                    self.k = nn.Linear(d, d, bias=bias)
                    self.v = nn.Linear(d, d, bias=bias)
                    self.o = nn.Linear(d, d, bias=bias)

                def forward(self, x):
                    b, t, d = x.shape
                    dh = d // self.heads

                    def split(y):  # [b, heads, t, dh]
                        return y.view(b, t, self.heads, dh).transpose(1, 2)

                    scores = split(self.q(x)).matmul(split(self.k(x)).transpose(-2, -1)) / math.sqrt(dh)
                    if self.causal:
                        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
                        scores = scores.masked_fill(mask, float("-inf"))
                    mixed = torch.softmax(scores, -1).matmul(split(self.v(x)))
                    return self.o(mixed.transpose(1, 2).reshape(b, t, d))
            """".Split('\n'))
            w.Line(line);
    }

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
