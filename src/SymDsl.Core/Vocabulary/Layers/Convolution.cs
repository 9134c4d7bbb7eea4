using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary.Layers;

/// <summary>
/// What <see cref="Conv1d"/> and <see cref="Conv2d"/> share: <c>ConvNd(in, out, kernel, stride = 1, padding = 0, bias = true)</c>
/// on a channels-first input ([C, L] or [C, H, W]; PyTorch's layout, batch implicit), y = W ⋆ x + b with weight
/// [out, in, kernel(, kernel)] and bias [out]. Its units are the channels (axis 0), and the calculus treats it as Linear treats
/// its units: the input channels along axis 1 of the weight, the output channels along axis 0 of the weight and the bias.
/// </summary>
public abstract class Convolution : LayerDefinition
{
    /// <summary>The number of axes after the channels: 1 (Conv1d) or 2 (Conv2d).</summary>
    protected abstract int Dims { get; }

    public override int UnitAxis => 0;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["in"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["out"].AsInt();

    public override IReadOnlyList<ArgSpec> Signature { get; } =
        [Size("in"), Size("out"), Size("kernel"), new("stride", ArgType.Int, new Value.Int(1), Range: Domain.Count),
         new("padding", ArgType.Int, new Value.Int(0), Range: Domain.Index), new("bias", ArgType.Bool, True), InitArg, BiasInitArg];

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
    {
        if (!a.NeedFloat() || !a.Rank(Dims + 1, Dims == 1 ? "[C, L] (channels first)" : "[C, H, W] (channels first)") || !a.First("in")) return null;
        int k = a.Int("kernel"), s = a.Int("stride"), p = a.Int("padding");
        var shape = new List<int> { a.Int("out") };
        for (int i = 1; i <= Dims; i++)
        {
            var padded = (long)a.Shape[i] + 2L * p;
            var axis = Dims == 1 ? "length" : i == 1 ? "height" : "width";
            if (!a.Fits(k, padded, $"its kernel {k}", $"the input's padded {axis} {a.Shape[i]} + 2·{p} = {padded} (shape {Names.Shape(a.Shape)})")) return null;
            shape.Add((int)((padded - k) / s + 1));
        }
        return shape;
    }

    public override void Parameters(ParameterList p)
    {
        int k = p.Int("kernel");
        p.Weight("weight", [p.Int("out"), p.Int("in"), .. Enumerable.Repeat(k, Dims)]);
        if (p.Bool("bias")) p.Bias("bias", p.Int("out"));
    }

    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => Name;
    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c)
    {
        // A constant 0 converts to TorchSharp's Padding enum too (an ambiguous overload): no padding is left to its default.
        var padding = c.Arg(l, "padding");
        return $"nn.{Name}({c.Arg(l, "in")}, {c.Arg(l, "out")}, {c.Arg(l, "kernel")}, stride: {c.Arg(l, "stride")}{(padding == "0" ? "" : $", padding: {padding}")}, bias: {c.Arg(l, "bias")})";
    }
    public override bool CSharpInitialisesAfterConstruction => true;
    public override string PythonConstruct(LayerIR l, PythonLayerContext c)
        => $"nn.{Name}({c.Arg(l, "in")}, {c.Arg(l, "out")}, {c.Arg(l, "kernel")}, stride={c.Arg(l, "stride")}, padding={c.Arg(l, "padding")}, bias={c.Arg(l, "bias")})";

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        if (IsLinearGroup(kind))
        {
            // y_o = Σ_i W[o, i] ⋆ x_i + b_o is linear in the channels: W → B W A⁻¹ along the channel axes (each kernel entry
            // alike), b → B b, for A acting on the input channels and B on the output channels.
            LinearMap(kind, rule, [("weight", 1)], [("weight", 0), ("bias", 0)]);
            return;
        }
        // W ⋆ (x + c·1) = W ⋆ x + c·ΣW per output channel where no zero padding enters the window; a bias could absorb that
        // (b → b − c·ΣW), an action the calculus does not express. With padding the border outputs change differently.
        var padded = rule.Layer.Args["padding"].AsInt() > 0;
        rule.Block(Port.In, padded ? "pads its input with zeros, which a shift does not move, so its border outputs change"
            : "sums its inputs over each window, so a shift of them is not a shift of its output", necessary: padded || !rule.Has("bias"));
        if (rule.Has("bias")) rule.Act(Port.Out, "bias", 0, ActionRole.Shift);
        else rule.Block(Port.Out, "has no bias to shift", necessary: true);
    }
}
