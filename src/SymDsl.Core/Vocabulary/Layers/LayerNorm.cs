using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>LayerNorm(n, eps, affine)</c>: y = γ ⊙ (x − mean x) / sqrt(var x + eps) + β over the n units.</summary>
public sealed class LayerNorm : LayerDefinition
{
    public override LayerKind Kind => LayerKind.LayerNorm;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["n"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["n"].AsInt();

    public override IReadOnlyList<ArgSpec> Signature { get; } =
        [Size("n"), new("eps", ArgType.Float, new Value.Float(1e-5), Range: Domain.NonNegative), new("affine", ArgType.Bool, True)];

    public override IReadOnlyList<int>? OutputShape(LayerApplication a) => a.NeedFloat() && a.Last("n") ? [.. a.Shape] : null;

    public override void Parameters(ParameterList p)
    {
        if (p.Bool("affine")) { p.Add("weight", InitSpec.Default, p.Int("n")); p.Bias("bias", p.Int("n")); }
    }

    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => "LayerNorm";
    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c) => $"nn.LayerNorm({c.Arg(l, "n")}, eps: {c.Arg(l, "eps")}, elementwise_affine: {c.Arg(l, "affine")})";
    public override string PythonConstruct(LayerIR l, PythonLayerContext c) => $"nn.LayerNorm({c.Arg(l, "n")}, eps={c.Arg(l, "eps")}, elementwise_affine={c.Arg(l, "affine")})";

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        var affine = rule.Has("weight");
        // γ and β carry a per-unit group on the output (γ → c ⊙ γ, β → c ⊙ β), a scalar one (axis -1), or β a shift.
        void Carry(params (string Local, int Axis, ActionRole Role)[] actions)
        {
            if (!affine) { rule.Block(Port.Out, "has no gain and bias (affine = false) to carry it", necessary: true); return; }
            foreach (var (local, axis, role) in actions) rule.Act(Port.Out, local, axis, role);
        }
        switch (kind)
        {
            case SymmetryKind.Permutation:
                // The mean and variance over the units do not depend on their order: permuting x permutes y, with γ and β.
                rule.Link();
                if (affine) Carry(("weight", 0, ActionRole.Forward), ("bias", 0, ActionRole.Forward));
                break;
            case SymmetryKind.Rescale:
            case SymmetryKind.Sign:
                rule.Block(Port.In, $"normalises over its units: a per-unit {(kind == SymmetryKind.Sign ? "sign flip" : "scale")} changes their mean and variance", necessary: true);
                Carry(("weight", 0, ActionRole.Forward), ("bias", 0, ActionRole.Forward));
                break;
            case SymmetryKind.Rotation:
                rule.Block(Port.In, "normalises over its units: a change of basis changes their mean and variance", necessary: true);
                rule.Block(Port.Out, "has a diagonal gain, which cannot carry a change of basis", necessary: true);
                break;
            case SymmetryKind.Scale:
                // LN(c x) = LN(x) for c > 0 — exactly only when eps = 0.
                rule.Absorb(Port.In, exact: rule.Layer.Args.Double("eps", 1e-5) == 0);
                Carry(("weight", -1, ActionRole.Forward), ("bias", -1, ActionRole.Forward));
                break;
            case SymmetryKind.Translation:
                rule.Absorb(Port.In); // the mean is subtracted: LN(x + c·1) = LN(x) exactly
                Carry(("bias", 0, ActionRole.Shift));
                break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
