using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary><c>PositionalEmbedding(context, d)</c>: x [batch, context, d] + weight [context, d].</summary>
public sealed class PositionalEmbeddingRuntime : LayerRuntime
{
    public override LayerKind Kind => Vocabulary.Layers.PositionalEmbedding.Id;

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        var weight = slot("weight");
        return x => x + weight.Required();
    }

    /// <summary>N(0, 1), as TorchSharp's nn.Embedding (which holds the weight in the generated C#).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen) => SymModel.Normal(t, 0, 1, gen);
}
