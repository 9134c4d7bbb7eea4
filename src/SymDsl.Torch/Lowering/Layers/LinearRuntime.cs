using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary><c>Linear(in, out, bias)</c>: y = x Wᵀ + b.</summary>
public sealed class LinearRuntime : LayerRuntime
{
    public override LayerKind Kind => LayerKind.Linear;

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        var w = slot("weight");
        var b = slot("bias");
        return x => F.linear(x, w.Required(), b.Optional());
    }

    /// <summary>U(±1/√in) for weight and bias (kaiming_uniform with a = √5).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen)
        => SymModel.Uniform(t, -Bound(layer.Args.Int("in", 1)), Bound(layer.Args.Int("in", 1)), gen);
}
