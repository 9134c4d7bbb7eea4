using SymDsl.IR;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary><c>Conv2d(in, out, kernel, stride, padding, bias)</c> on [batch, C, H, W].</summary>
public sealed class Conv2dRuntime : ConvolutionRuntime
{
    public override LayerKind Kind => Vocabulary.Layers.Conv2d.Conv2dKind;
    protected override int Dims => 2;
}
