using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>Small helpers shared by the measures: float64 copies, conversion to C# arrays, matrix views.</summary>
internal static class TensorMath
{
    /// <summary>A detached float64 copy (on the CPU) of <paramref name="t"/>, owned by the current dispose scope.</summary>
    public static Tensor F64(Tensor t) => t.detach().to(ScalarType.Float64, torch.CPU);

    /// <summary>
    /// The tensor as a float64 matrix: 2-D as is, 1-D as one row [1, n], higher ranks flattened to [size(0), rest].
    /// </summary>
    public static Tensor Matrix(Tensor t)
    {
        var x = F64(t);
        return x.dim() switch
        {
            0 => x.reshape(1, 1),
            1 => x.reshape(1, -1),
            2 => x,
            _ => x.reshape(x.shape[0], -1),
        };
    }

    /// <summary>The values of <paramref name="t"/> in float64, row-major, copied out in one block.</summary>
    public static double[] ToArray(Tensor t) => MemoryMarshal.Cast<byte, double>(F64(t).contiguous().bytes).ToArray();

    public static double[,] ToMatrix(Tensor t)
    {
        var m = F64(t).contiguous();
        if (m.dim() != 2) throw new ArgumentException($"expected a matrix, got rank {m.dim()}");
        int r = (int)m.shape[0], c = (int)m.shape[1];
        var flat = MemoryMarshal.Cast<byte, double>(m.bytes).ToArray();
        var res = new double[r, c];
        Buffer.BlockCopy(flat, 0, res, 0, r * c * sizeof(double));
        return res;
    }

    /// <summary>A [b, r, c] tensor as b matrices, read in one transfer.</summary>
    public static double[][,] ToMatrices(Tensor t)
    {
        var m = F64(t).contiguous();
        if (m.dim() != 3) throw new ArgumentException($"expected a batch of matrices, got rank {m.dim()}");
        int nb = (int)m.shape[0], r = (int)m.shape[1], c = (int)m.shape[2];
        var flat = MemoryMarshal.Cast<byte, double>(m.bytes).ToArray();
        var res = new double[nb][,];
        for (int b = 0; b < nb; b++)
        {
            var a = new double[r, c];
            Buffer.BlockCopy(flat, b * r * c * sizeof(double), a, 0, r * c * sizeof(double));
            res[b] = a;
        }
        return res;
    }

    public static Tensor FromMatrix(double[,] a)
    {
        int r = a.GetLength(0), c = a.GetLength(1);
        var flat = new double[r * c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                flat[i * c + j] = a[i, j];
        return torch.tensor(flat, new long[] { r, c }, ScalarType.Float64);
    }

    /// <summary>
    /// <see cref="Median"/> of values without NaN, sorting them in place (Array.Sort instead of a LINQ OrderBy: the same
    /// sorted values, hence the same median, unless ±0 are both present, which the non-negative ratios and products the
    /// measures take medians of never are).
    /// </summary>
    public static double MedianInPlace(Span<double> values)
    {
        if (values.Length == 0) return double.NaN;
        values.Sort();
        int m = values.Length / 2;
        return values.Length % 2 == 1 ? values[m] : 0.5 * (values[m - 1] + values[m]);
    }

    public static double Median(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        int m = v.Length / 2;
        return v.Length % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
    }
}
