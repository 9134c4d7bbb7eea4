using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary><c>Embedding(vocab, d)</c>: row t of the weight for token t.</summary>
public sealed class EmbeddingRuntime : LayerRuntime
{
    public override LayerKind Kind => LayerKind.Embedding;

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        var weight = slot("weight");
        return x =>
        {
            var w = weight.Required();
            var idx = x.to_type(ScalarType.Int64);
            var flat = idx.reshape(-1);
            var outShape = idx.shape.Append(w.shape[1]).ToArray();
            return w.index_select(0, flat).reshape(outShape);
        };
    }

    /// <summary>N(0, 1).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen) => SymModel.Normal(t, 0, 1, gen);
}
