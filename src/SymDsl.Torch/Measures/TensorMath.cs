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

    public static double[] ToArray(Tensor t) => F64(t).contiguous().data<double>().ToArray();

    public static double[,] ToMatrix(Tensor t)
    {
        var m = F64(t).contiguous();
        if (m.dim() != 2) throw new ArgumentException($"expected a matrix, got rank {m.dim()}");
        int r = (int)m.shape[0], c = (int)m.shape[1];
        var flat = m.data<double>().ToArray();
        var res = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                res[i, j] = flat[i * c + j];
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

    public static double Median(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        int m = v.Length / 2;
        return v.Length % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
    }
}
