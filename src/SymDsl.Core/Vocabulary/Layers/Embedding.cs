using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>Embedding(vocab, d)</c>: row t of weight [vocab, d] for token t.</summary>
public sealed class Embedding : LayerDefinition
{
    public override LayerKind Kind => LayerKind.Embedding;
    public override bool HasInputUnits => false;
    public override int InputUnits(LayerIR layer) => 0;
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["d"].AsInt();

    public override IReadOnlyList<ArgSpec> Signature { get; } = [Size("vocab"), Size("d"), InitArg];

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
        => a.NeedInt("int (token ids: `input t: int [T]`)") ? [.. a.Shape, a.Int("d")] : null;

    public override void Parameters(ParameterList p) => p.Weight("weight", p.Int("vocab"), p.Int("d"));

    public override long? TokenVocabulary(LayerIR layer) => layer.Parameters[0].Shape[0];

    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => "Embedding";
    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c) => $"nn.Embedding({c.Arg(l, "vocab")}, {c.Arg(l, "d")})";
    public override bool CSharpInitialisesAfterConstruction => true;
    public override string PythonConstruct(LayerIR l, PythonLayerContext c) => $"nn.Embedding({c.Arg(l, "vocab")}, {c.Arg(l, "d")})";

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        // Every embedding vector moves with the group: the columns of the weight are the output units.
        if (IsLinearGroup(kind)) LinearMap(kind, rule, [], [("weight", 1)]);
        else rule.Act(Port.Out, "weight", -1, ActionRole.Shift);
    }
}
