using SymDsl.IR;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>Embedding(vocab, d)</c>: row t of weight [vocab, d] for token t.</summary>
public sealed class Embedding : LayerDefinition
{
    public override LayerKind Kind => LayerKind.Embedding;
    public override bool HasInputUnits => false;
    public override int InputUnits(LayerIR layer) => 0;
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["d"].AsInt();

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        // Every embedding vector moves with the group: the columns of the weight are the output units.
        if (IsLinearGroup(kind)) LinearMap(kind, rule, [], [("weight", 1)]);
        else rule.Act(Port.Out, "weight", -1, ActionRole.Shift);
    }
}
