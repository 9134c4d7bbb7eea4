using SymDsl.IR;
using SymDsl.Torch.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary><c>LayerNorm(n, eps, affine)</c> over the last axis.</summary>
public sealed class LayerNormRuntime : LayerRuntime
{
    public override LayerKind Kind => LayerKind.LayerNorm;

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        var w = slot("weight");
        var b = slot("bias");
        long? n = layer.Args.TryGetValue("n", out var nv) ? nv.AsInt() : null;
        var eps = layer.Args.Double("eps", 1e-5);
        return x => F.layer_norm(x, [n ?? x.shape[^1]], w.Optional(), b.Optional(), eps);
    }

    /// <summary>weight 1, bias 0.</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen)
    {
        if (local == "weight") t.fill_(Scalars.One); else t.zero_();
    }
}
