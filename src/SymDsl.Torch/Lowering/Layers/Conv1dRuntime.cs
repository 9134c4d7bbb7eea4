using SymDsl.IR;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary><c>Conv1d(in, out, kernel, stride, padding, bias)</c> on [batch, C, L].</summary>
public sealed class Conv1dRuntime : ConvolutionRuntime
{
    public override LayerKind Kind => Vocabulary.Layers.Conv1d.Conv1dKind;
    protected override int Dims => 1;
}
