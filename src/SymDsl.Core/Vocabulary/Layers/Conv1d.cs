using SymDsl.IR;

namespace SymDsl.Vocabulary.Layers;

/// <summary><c>Conv1d(in, out, kernel, stride = 1, padding = 0, bias = true)</c> on [C, L]: weight [out, in, kernel], bias [out].</summary>
public sealed class Conv1d : Convolution
{
    public static readonly LayerKind Conv1dKind = new("Conv1d", 5);
    public override LayerKind Kind => Conv1dKind;
    protected override int Dims => 1;
}
