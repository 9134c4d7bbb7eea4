using SymDsl.IR;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>Linear(in, out, bias)</c>: y = W x + b, weight [out, in], bias [out].</summary>
public sealed class Linear : LayerDefinition
{
    public override LayerKind Kind => LayerKind.Linear;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["in"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["out"].AsInt();

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        if (IsLinearGroup(kind))
        {
            // W → B W A⁻¹, b → B b for A acting on the input units and B on the output units.
            LinearMap(kind, rule, [("weight", 1)], [("weight", 0), ("bias", 0)]);
            return;
        }
        // W (x + c·1) = W x + c·W·1: a shift of the input is absorbed by b → b − c·W·1 when there is a bias; that coupled
        // action is not expressed by the calculus, so it cannot prove it.
        rule.Block(Port.In, "mixes its inputs, so a shift of them is not a shift of its output", necessary: !rule.Has("bias"));
        if (rule.Has("bias")) rule.Act(Port.Out, "bias", 0, ActionRole.Shift);
        else rule.Block(Port.Out, "has no bias to shift", necessary: true);
    }
}
