using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary.Layers;

/// <summary>
/// <c>BatchNorm(n, eps, momentum, affine)</c> on <c>[C]</c>, <c>[C, L]</c> or <c>[C, H, W]</c> (C = n, channels first): y = γ ⊙ (x − μ) / sqrt(σ² + eps) + β per channel. In
/// training μ and σ² are the batch's (over the batch, and L, H, W when the run time has them) and the running statistics
/// (buffers running_mean, running_var, num_batches_tracked) move towards them by <c>momentum</c>; in evaluation the running
/// statistics are used. <c>check --verify</c> checks it in training mode (batch statistics, buffers untouched).
/// </summary>
public sealed class BatchNorm : LayerDefinition
{
    /// <summary>The kind, for the run time's module (SymDsl.Torch/Lowering/Layers/BatchNormRuntime.cs).</summary>
    public static readonly LayerKind Id = new("BatchNorm", 7);
    public override LayerKind Kind => Id;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["n"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["n"].AsInt();

    public override IReadOnlyList<ArgSpec> Signature { get; } =
    [
        Size("n"), new("eps", ArgType.Float, new Value.Float(1e-5), Range: Domain.NonNegative),
        new("momentum", ArgType.Float, new Value.Float(0.1), Range: Domain.Probability), new("affine", ArgType.Bool, True),
    ];

    /// <summary>The channels, axis 0 of [C], [C, L] and [C, H, W].</summary>
    public override int UnitAxis => 0;

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
        => a.NeedFloat() && (a.Shape.Count is >= 1 and <= 3 || a.Rank(1, "[C], [C, L] or [C, H, W] (channels first)")) && a.First("n") ? [.. a.Shape] : null;

    /// <summary>On [C] the statistics of a channel are over the batch alone: a batch of one has none.</summary>
    public override bool NeedsSeveralExamples(IReadOnlyList<int> inputShape) => inputShape.Count == 1;

    public override void Parameters(ParameterList p)
    {
        if (p.Bool("affine")) { p.Add("weight", InitSpec.Default, p.Int("n")); p.Bias("bias", p.Int("n")); }
    }

    /// <summary>nn.BatchNorm1d for [C] and [C, L], nn.BatchNorm2d for [C, H, W] (by the rank of the layer's input).</summary>
    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => InputRank(layer, c) == 3 ? "BatchNorm2d" : "BatchNorm1d";
    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c)
        => $"nn.{CSharpFieldType(l, c)}({c.Arg(l, "n")}, eps: {c.Arg(l, "eps")}, momentum: {c.Arg(l, "momentum")}, affine: {c.Arg(l, "affine")})";

    static int InputRank(LayerIR layer, CSharpLayerContext c) => InputRank(layer, c.Model);

    public override string PythonConstruct(LayerIR l, PythonLayerContext c)
        => $"nn.BatchNorm{(InputRank(l, c.Model) == 3 ? 2 : 1)}d({c.Arg(l, "n")}, eps={c.Arg(l, "eps")}, momentum={c.Arg(l, "momentum")}, affine={c.Arg(l, "affine")})";

    static int InputRank(LayerIR layer, ModelIR model)
    {
        var app = model.Nodes.FirstOrDefault(n => n.Op == OpKind.Layer && n.Attr("layer") == layer.Name);
        return app is null ? 1 : model.Node(app.Inputs[0]).Shape.Count;
    }

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        var affine = rule.Has("weight");
        void Carry(params (string Local, int Axis, ActionRole Role)[] actions)
        {
            if (!affine) { rule.Block(Port.Out, "has no gain and bias (affine = false) to carry it", necessary: true); return; }
            foreach (var (local, axis, role) in actions) rule.Act(Port.Out, local, axis, role);
        }
        var eps = rule.Layer.Args.Double("eps", 1e-5);
        switch (kind)
        {
            case SymmetryKind.Permutation:
                // Each channel is normalised on its own: permuting the channels permutes y, with γ, β and the running statistics.
                rule.Link();
                if (affine) Carry(("weight", 0, ActionRole.Forward), ("bias", 0, ActionRole.Forward));
                rule.ActOnBuffer(Port.In, "running_mean", 0, ActionRole.Forward);
                rule.ActOnBuffer(Port.In, "running_var", 0, ActionRole.Forward);
                break;
            case SymmetryKind.Rescale:
            case SymmetryKind.Scale:
            {
                // BN(c ⊙ z) = BN(z) per channel (c > 0): exactly only when eps = 0. The running mean scales by c, the variance by c².
                rule.Absorb(Port.In, exact: eps == 0);
                var axis = kind == SymmetryKind.Scale ? -1 : 0;
                rule.ActOnBuffer(Port.In, "running_mean", axis, ActionRole.Forward);
                rule.ActOnBuffer(Port.In, "running_var", axis, ActionRole.Forward);
                rule.ActOnBuffer(Port.In, "running_var", axis, ActionRole.Forward);
                Carry(("weight", axis, ActionRole.Forward), ("bias", axis, ActionRole.Forward));
                break;
            }
            case SymmetryKind.Sign:
                // BN(s ⊙ z) = s ⊙ ẑ·γ + β: a flip of the input is undone by flipping γ (exactly, eps included); the running mean
                // flips, the variance does not.
                if (affine) rule.Act(Port.In, "weight", 0, ActionRole.Inverse);
                else rule.Block(Port.In, "has no gain (affine = false) to undo a sign flip of its input", necessary: true);
                rule.ActOnBuffer(Port.In, "running_mean", 0, ActionRole.Forward);
                Carry(("weight", 0, ActionRole.Forward), ("bias", 0, ActionRole.Forward));
                break;
            case SymmetryKind.Rotation:
                rule.Block(Port.In, "normalises each channel on its own: a change of basis mixes channels before their statistics are taken", necessary: true);
                rule.Block(Port.Out, "has a diagonal gain, which cannot carry a change of basis", necessary: true);
                break;
            case SymmetryKind.Translation:
                rule.Absorb(Port.In); // the batch mean is subtracted: BN(z + c·1) = BN(z) exactly; the running mean moves by c
                rule.ActOnBuffer(Port.In, "running_mean", 0, ActionRole.Shift);
                Carry(("bias", 0, ActionRole.Shift));
                break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
