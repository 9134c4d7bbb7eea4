using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary.Layers;

/// <summary>
/// <c>PositionalEmbedding(context, d)</c>: learned position vectors, y[t] = x[t] + weight[t] on <c>[context, d]</c>
/// (weight <c>[context, d]</c>, row t for position t). Its units are the d columns of the stream: it links input and
/// output units and carries every linear group on them through the columns of its weight, as a bias does.
/// </summary>
public sealed class PositionalEmbedding : LayerDefinition
{
    public static readonly LayerKind Id = new("PositionalEmbedding", 8);
    public override LayerKind Kind => Id;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["d"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["d"].AsInt();

    public override IReadOnlyList<ArgSpec> Signature { get; } = [Size("context"), Size("d"), InitArg];

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
    {
        if (!a.NeedFloat() || !a.Rank(2, "[context, d]") || !a.Last("d")) return null;
        if (a.Shape[0] == a.Int("context")) return [.. a.Shape];
        a.Mismatch("first dimension " + a.Int("context") + " (context)");
        return null;
    }

    public override void Parameters(ParameterList p) => p.Weight("weight", p.Int("context"), p.Int("d"));

    // The generated module holds the position vectors in an nn.Embedding(context, d), so that its state_dict key is
    // "{layer}.weight" as in SymModel, and adds them to its input.
    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => "Embedding";
    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c) => $"nn.Embedding({c.Arg(l, "context")}, {c.Arg(l, "d")})";
    public override string CSharpForward(LayerIR layer, string input, CSharpLayerContext c) => $"({input} + {c.Field(layer)}.weight!)";
    public override bool CSharpInitialisesAfterConstruction => true;
    public override string PythonConstruct(LayerIR l, PythonLayerContext c) => $"nn.Embedding({c.Arg(l, "context")}, {c.Arg(l, "d")})";
    public override string PythonForward(LayerIR layer, string input, PythonLayerContext c) => $"{input} + {c.Field(layer)}.weight";

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        if (IsLinearGroup(kind))
        {
            // (x + w) A = x A + w A: the input's units are the output's, and the weight's columns move with them.
            rule.Link();
            rule.Act(Port.Out, "weight", kind == SymmetryKind.Scale ? -1 : 1, ActionRole.Forward);
            return;
        }
        // x + c·1 + w: the shift passes through, which the calculus does not follow; the weight emits a shift of its own.
        rule.Block(Port.In, "adds its position vectors to its input: a shift of the input passes to the output, which the calculus does not follow", necessary: false);
        rule.Act(Port.Out, "weight", -1, ActionRole.Shift);
    }
}
