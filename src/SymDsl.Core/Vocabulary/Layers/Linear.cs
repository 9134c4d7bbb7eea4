using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>Linear(in, out, bias)</c>: y = W x + b, weight [out, in], bias [out].</summary>
public sealed class Linear : LayerDefinition
{
    public override LayerKind Kind => LayerKind.Linear;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["in"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["out"].AsInt();

    public override IReadOnlyList<ArgSpec> Signature { get; } = [Size("in"), Size("out"), new("bias", ArgType.Bool, True), InitArg, BiasInitArg];

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
        => a.NeedFloat() && a.Last("in") ? [.. a.Shape.Take(a.Shape.Count - 1), a.Int("out")] : null;

    public override void Parameters(ParameterList p)
    {
        p.Weight("weight", p.Int("out"), p.Int("in"));
        if (p.Bool("bias")) p.Bias("bias", p.Int("out"));
    }

    public override string? LinearWeight => "weight";

    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => "Linear";
    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c) => $"nn.Linear({c.Arg(l, "in")}, {c.Arg(l, "out")}, hasBias: {c.Arg(l, "bias")})";
    public override bool CSharpInitialisesAfterConstruction => true;
    public override string PythonConstruct(LayerIR l, PythonLayerContext c) => $"nn.Linear({c.Arg(l, "in")}, {c.Arg(l, "out")}, bias={c.Arg(l, "bias")})";

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
