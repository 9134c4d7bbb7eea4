using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>Clusters of duplicated units.</summary>
/// <param name="Clusters">Each cluster (≥ 2 units) as ascending unit indices; clusters ordered by their smallest index.</param>
/// <param name="MaxOffDiagonalCosine">The largest pairwise cosine similarity between distinct nonzero units.</param>
public sealed record DuplicateResult(IReadOnlyList<int[]> Clusters, double MaxOffDiagonalCosine)
{
    /// <summary>Σ_clusters (|cluster| − 1): how many units could be removed by merging each cluster into one unit.</summary>
    public int Redundant => Clusters.Sum(c => c.Length - 1);
}

/// <summary>
/// Permutation collapse, "homogeneous ensembling" (Ziyin 2024; science.md): the mirror's fixed points of a permutation
/// symmetry are units whose incoming weights, bias and outgoing weights all agree.
/// </summary>
public static class Duplicates
{
    /// <summary>
    /// u_i = concat(w_in,i (row i of wIn [n, in]), b_i, w_out,i (column i of wOut [out, n])). Units i ≠ j are linked when
    /// cos(u_i, u_j) &gt; <paramref name="cosThreshold"/> (or |cos| when <paramref name="signInvariant"/>, for sign symmetry);
    /// clusters are the connected components (union–find) of size ≥ 2. Units with ‖u_i‖ = 0 are never linked (they are
    /// collapsed, see <see cref="Collapse"/>, not duplicated).
    /// </summary>
    public static DuplicateResult Clusters(Tensor wIn, Tensor? b, Tensor wOut, double cosThreshold = 0.99, bool signInvariant = false)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var w = TensorMath.F64(wIn);
        w = w.reshape(w.shape[0], -1);
        var parts = new List<Tensor> { w };
        if (b is not null) parts.Add(TensorMath.F64(b).reshape(-1, 1));
        parts.Add(TensorMath.F64(wOut).t());
        return FromUnitVectors(torch.cat(parts, 1), cosThreshold, signInvariant);
    }

    /// <summary><see cref="Clusters"/> for any unit-wise symmetry: u_i from <see cref="UnitNorms.UnitVectors"/>.</summary>
    public static DuplicateResult FromSymmetry(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters, double cosThreshold = 0.99, bool signInvariant = false)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        return FromUnitVectors(UnitNorms.UnitVectors(sym, parameters), cosThreshold, signInvariant);
    }

    /// <summary>Clusters of the rows of <paramref name="units"/> [n, k] by cosine similarity (see <see cref="Clusters"/>).</summary>
    public static DuplicateResult FromUnitVectors(Tensor units, double cosThreshold = 0.99, bool signInvariant = false)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var u = TensorMath.F64(units);
        int n = (int)u.shape[0];
        var norms = u.pow(2).sum(new long[] { 1 }, keepdim: true).sqrt();
        var nonzero = TensorMath.ToArray(norms.squeeze(1)).Select(x => x > 0).ToArray();
        var unit = u / torch.where(norms > 0, norms, torch.ones_like(norms));
        var cos = unit.matmul(unit.t());
        if (signInvariant) cos = cos.abs();
        // only pairs i < j of nonzero units count
        var nz = torch.tensor(nonzero, device: cos.device).to(ScalarType.Float64);
        var valid = torch.triu(torch.ones(n, n, ScalarType.Float64), 1) * nz.unsqueeze(1) * nz.unsqueeze(0);
        var validMask = valid > 0.5;
        double maxCos = n < 2 || !validMask.any().item<bool>()
            ? double.NegativeInfinity
            : cos.masked_select(validMask).max().item<double>();
        var pairs = (validMask & (cos > cosThreshold)).nonzero(); // [k, 2]
        var flat = pairs.numel() == 0 ? Array.Empty<long>() : pairs.contiguous().data<long>().ToArray();
        var parent = Enumerable.Range(0, n).ToArray();
        int Find(int i) { while (parent[i] != i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; }
        for (int k = 0; k + 1 < flat.Length; k += 2)
        {
            int ri = Find((int)flat[k]), rj = Find((int)flat[k + 1]);
            if (ri != rj) parent[Math.Max(ri, rj)] = Math.Min(ri, rj);
        }
        var clusters = Enumerable.Range(0, n).GroupBy(Find)
            .Where(gr => gr.Count() >= 2)
            .Select(gr => gr.OrderBy(i => i).ToArray())
            .OrderBy(c => c[0])
            .ToList();
        return new DuplicateResult(clusters, double.IsNegativeInfinity(maxCos) ? double.NaN : maxCos);
    }
}
