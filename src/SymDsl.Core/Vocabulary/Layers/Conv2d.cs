using SymDsl.IR;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>Conv2d(in, out, kernel, stride = 1, padding = 0, bias = true)</c> on [C, H, W]: weight [out, in, kernel, kernel],
/// bias [out].</summary>
public sealed class Conv2d : Convolution
{
    public static readonly LayerKind Conv2dKind = new("Conv2d", 6);
    public override LayerKind Kind => Conv2dKind;
    protected override int Dims => 2;
}
