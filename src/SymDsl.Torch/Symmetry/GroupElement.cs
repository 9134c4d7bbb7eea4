using SymDsl.IR;

namespace SymDsl.Torch.Symmetry;

/// <summary>Which matrices a rotation symmetry is sampled from.</summary>
public enum RotationGroup
{
    /// <summary>Orthogonal A (QR of a Gaussian matrix, signs fixed so the distribution is Haar).</summary>
    Orthogonal,
    /// <summary>Invertible, well-conditioned A = Q₁ diag(exp(N(0, scale²))) Q₂ with Q₁, Q₂ orthogonal (GL(n)).</summary>
    General,
}

/// <summary>
/// One element g of the group of a <see cref="SymmetryIR"/>. Only the fields of its <see cref="Kind"/> are set;
/// per-block arrays have <see cref="Blocks"/> entries, each of length <see cref="Dim"/> (or Dim×Dim row-major for matrices).
/// </summary>
public sealed record GroupElement(SymmetryKind Kind, int Dim, int Blocks)
{
    /// <summary>Permutation: Permutations[b][i] = the old unit that becomes unit i (new = old.index_select(π)).</summary>
    public int[][]? Permutations { get; init; }
    /// <summary>Rescale: c_i &gt; 0 per unit.</summary>
    public double[][]? Scales { get; init; }
    /// <summary>Sign: s_i ∈ {−1, +1} per unit.</summary>
    public double[][]? Signs { get; init; }
    /// <summary>Rotation: A per block, Dim×Dim, row-major.</summary>
    public double[][]? Matrices { get; init; }
    /// <summary>Translation: the shift c (b' = b + c·1).</summary>
    public double Shift { get; init; }
    /// <summary>Scale: the factor c &gt; 0 (W' = c W).</summary>
    public double Factor { get; init; } = 1.0;

    /// <summary>The identity element of the group of <paramref name="sym"/>.</summary>
    public static GroupElement Identity(SymmetryIR sym)
    {
        int n = sym.Dim, nb = sym.Blocks;
        return sym.Kind switch
        {
            SymmetryKind.Permutation => new(sym.Kind, n, nb) { Permutations = Enumerable.Range(0, nb).Select(_ => Enumerable.Range(0, n).ToArray()).ToArray() },
            SymmetryKind.Rescale => new(sym.Kind, n, nb) { Scales = Enumerable.Range(0, nb).Select(_ => Enumerable.Repeat(1.0, n).ToArray()).ToArray() },
            SymmetryKind.Sign => new(sym.Kind, n, nb) { Signs = Enumerable.Range(0, nb).Select(_ => Enumerable.Repeat(1.0, n).ToArray()).ToArray() },
            SymmetryKind.Rotation => new(sym.Kind, n, nb)
            {
                Matrices = Enumerable.Range(0, nb).Select(_ =>
                {
                    var a = new double[n * n];
                    for (int i = 0; i < n; i++) a[i * n + i] = 1.0;
                    return a;
                }).ToArray(),
            },
            SymmetryKind.Translation => new(sym.Kind, n, nb) { Shift = 0.0 },
            SymmetryKind.Scale => new(sym.Kind, n, nb) { Factor = 1.0 },
            _ => throw new ArgumentOutOfRangeException(nameof(sym)),
        };
    }
}
