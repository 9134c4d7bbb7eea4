using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary>Multi-head scaled dot-product self-attention over [B, T, d]; head h uses rows h*dh.. of q/k/v and columns of o.</summary>
public sealed class SelfAttentionRuntime : LayerRuntime
{
    public override LayerKind Kind => LayerKind.SelfAttention;

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        var (q, qb, k, kb) = (slot("q.weight"), slot("q.bias"), slot("k.weight"), slot("k.bias"));
        var (v, vb, o, ob) = (slot("v.weight"), slot("v.bias"), slot("o.weight"), slot("o.bias"));
        var heads = layer.Args.Int("heads", 1);
        var causal = layer.Args.Bool("causal", false);
        return x =>
        {
            var shape = x.shape;
            var d = shape[^1];
            if (d % heads != 0) throw new SymDslException($"layer {layer.Name}: d = {d} is not divisible by heads = {heads}");
            var dh = d / heads;
            long b = shape[0], t = shape[1];
            Tensor Proj(IParameterSlot w, IParameterSlot bias) => F.linear(x, w.Required(), bias.Optional()).view(b, t, heads, dh).transpose(1, 2);
            var qh = Proj(q, qb);
            var kh = Proj(k, kb);
            var vh = Proj(v, vb);
            var scores = qh.matmul(kh.transpose(-2, -1)) / Math.Sqrt(dh);
            if (causal)
            {
                var mask = ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1);
                scores = scores.masked_fill(mask, Scalars.NegativeInfinity);
            }
            var attn = F.softmax(scores, -1);
            var ctx = attn.matmul(vh).transpose(1, 2).reshape(b, t, d);
            return F.linear(ctx, o.Required(), ob.Optional());
        };
    }

    /// <summary>U(±1/√d) for every projection's weight and bias (as Linear).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen)
        => SymModel.Uniform(t, -Bound(layer.Args.Int("d", 1)), Bound(layer.Args.Int("d", 1)), gen);
}
