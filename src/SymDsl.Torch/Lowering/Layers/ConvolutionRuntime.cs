using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary>What <see cref="Conv1dRuntime"/> and <see cref="Conv2dRuntime"/> share: y = W ⋆ x + b on [batch, C, …].</summary>
public abstract class ConvolutionRuntime : LayerRuntime
{
    /// <summary>The number of axes after the channels: 1 or 2.</summary>
    protected abstract int Dims { get; }

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        Runtime.Backends.ForConvolutions(); // oneDNN and NNPACK off: NaN gradients and a libtorch warning on every call (see Backends)
        var w = slot("weight");
        var b = slot("bias");
        var stride = layer.Args.Int("stride", 1);
        var padding = layer.Args.Int("padding", 0);
        if (Dims == 1) return x => F.conv1d(x, w.Required(), b.Optional(), stride, padding);
        long[] strides = [stride, stride], paddings = [padding, padding];
        return x => F.conv2d(x, w.Required(), b.Optional(), strides, paddings);
    }

    /// <summary>U(±1/√fan_in) for weight and bias, fan_in = in·kernel^dims (kaiming_uniform with a = √5, as PyTorch).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen)
    {
        var fanIn = layer.Args.Int("in", 1) * (long)Math.Pow(layer.Args.Int("kernel", 1), Dims);
        SymModel.Uniform(t, -Bound(fanIn), Bound(fanIn), gen);
    }
}
