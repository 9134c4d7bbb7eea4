using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;
using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Measures;

/// <summary>Clusters of duplicated units.</summary>
/// <param name="Clusters">Each cluster (≥ 2 units) as ascending unit indices; clusters ordered by their smallest index.</param>
/// <param name="MaxOffDiagonalCosine">The largest pairwise cosine similarity between distinct nonzero units.</param>
/// <remarks>
/// With <see cref="DuplicateSearch.Screened"/> the largest cosine is exact only when it is ≥ the search floor; otherwise
/// <see cref="MaxCosineBound"/> holds the floor and the true largest cosine lies in [MaxOffDiagonalCosine, MaxCosineBound).
/// </remarks>
public sealed record DuplicateResult(IReadOnlyList<int[]> Clusters, double MaxOffDiagonalCosine)
{
    /// <summary>Σ_clusters (|cluster| − 1): how many units could be removed by merging each cluster into one unit.</summary>
    public int Redundant => Clusters.Sum(c => c.Length - 1);

    /// <summary>
    /// Null when <see cref="MaxOffDiagonalCosine"/> is the exact largest cosine. Otherwise a strict upper bound on it:
    /// the screened search found no pair at or above this cosine, and <see cref="MaxOffDiagonalCosine"/> is the largest
    /// cosine among the pairs it did compare (a lower bound; NaN if it compared none).
    /// </summary>
    public double? MaxCosineBound { get; init; }

    /// <summary>Whether <see cref="MaxOffDiagonalCosine"/> is exact (see <see cref="MaxCosineBound"/>).</summary>
    public bool MaxCosineExact => MaxCosineBound is null;
}

/// <summary>How <see cref="Duplicates"/> finds the pairs of units above the cosine threshold.</summary>
public enum DuplicateSearch
{
    /// <summary>
    /// Sub-quadratic screen (the default): only pairs whose projections on a few principal directions lie within the
    /// distance the threshold implies are compared. Clusters exact; the largest cosine exact when ≥ the search floor
    /// (see <see cref="Duplicates.FromUnitVectors"/>); small layers are compared all pairs, exactly.
    /// </summary>
    Screened,
    /// <summary>All pairs (the Gram matrix of all units, screened in float32, decided in float64): the reference.</summary>
    Exact,
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
    public static DuplicateResult Clusters(Tensor wIn, Tensor? b, Tensor wOut, double cosThreshold = 0.99, bool signInvariant = false,
        DuplicateSearch search = DuplicateSearch.Screened, double? maxCosineFloor = null)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var w = TensorMath.F64(wIn);
        w = w.reshape(w.shape[0], -1);
        var parts = new List<Tensor> { w };
        if (b is not null) parts.Add(TensorMath.F64(b).reshape(-1, 1));
        parts.Add(TensorMath.F64(wOut).t());
        return FromUnitVectors(torch.cat(parts, 1), cosThreshold, signInvariant, search, maxCosineFloor);
    }

    /// <summary><see cref="Clusters"/> for any unit-wise symmetry: u_i from <see cref="UnitNorms.UnitVectors"/>.</summary>
    public static DuplicateResult FromSymmetry(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters, double cosThreshold = 0.99, bool signInvariant = false,
        DuplicateSearch search = DuplicateSearch.Screened, double? maxCosineFloor = null)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        return FromUnitVectors(UnitNorms.UnitVectors(sym, parameters), cosThreshold, signInvariant, search, maxCosineFloor);
    }

    /// <summary>
    /// Clusters of the rows of <paramref name="units"/> [n, k] by cosine similarity (see <see cref="Clusters"/>), by
    /// <paramref name="search"/>. Both searches decide every compared pair on its float64 cosine, so they give the same
    /// clusters (tested against each other).
    /// <para>
    /// <see cref="DuplicateSearch.Screened"/>: for unit vectors, cos(û_i, û_j) ≥ c ⇔ ‖û_i − û_j‖² ≤ 2(1 − c), and any
    /// projection on orthonormal directions shortens distances. The units are projected on
    /// <see cref="ProjectionDimensions"/> orthonormal directions (one subspace iteration towards the principal directions
    /// of the centred unit vectors, from a fixed start: deterministic), sorted by the first projection, and only pairs
    /// whose projections lie within √(2(1 − floor)) are compared, floor = <paramref name="maxCosineFloor"/> (default: the
    /// threshold; a lower floor compares more pairs). Hence every pair with cos ≥ floor is compared: the clusters are
    /// exact, and <see cref="DuplicateResult.MaxOffDiagonalCosine"/> is exact whenever it is ≥ floor. Below the floor it is
    /// the largest cosine among the compared pairs (which include each unit's neighbours in the sorted order) and
    /// <see cref="DuplicateResult.MaxCosineBound"/> = floor: the true value lies in [reported, floor). When all pairs cost
    /// less than <see cref="AllPairsBudget"/> multiply-adds, all pairs are compared and everything is exact.
    /// With <paramref name="signInvariant"/> the set {û_i} ∪ {−û_i} is searched. Cost: O(n·k·m) for the projections, the
    /// pairs inside the window (a fraction of n² that shrinks as the units spread along the first direction; for isotropic
    /// units in k dimensions about 0.6·n²/2 at threshold 0.99, each an 8-wide vector test), and k per compared pair.
    /// </para>
    /// <para>
    /// <see cref="DuplicateSearch.Exact"/>: the Gram matrix of all pairs in float32, then every pair within
    /// <see cref="ScreenMargin"/> of the threshold or of the largest cosine decided on its float64 cosine: the clusters and
    /// <see cref="DuplicateResult.MaxOffDiagonalCosine"/> of the float64 computation, at O(n²·k).
    /// </para>
    /// </summary>
    public static DuplicateResult FromUnitVectors(Tensor units, double cosThreshold = 0.99, bool signInvariant = false,
        DuplicateSearch search = DuplicateSearch.Screened, double? maxCosineFloor = null)
    {
        if (search == DuplicateSearch.Screened) return DuplicateScreen.Search(units, cosThreshold, signInvariant, Math.Min(cosThreshold, maxCosineFloor ?? cosThreshold));
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var u = TensorMath.F64(units);
        int n = (int)u.shape[0];
        var norms = u.pow(Scalars.IntTwo).sum(new long[] { 1 }, keepdim: true).sqrt();
        var zero = TensorMath.ToArray(norms.squeeze(1)).Select((x, i) => (x, i)).Where(t => !(t.x > 0)).Select(t => (long)t.i).ToArray();
        if (n - zero.Length < 2) return new DuplicateResult([], double.NaN);
        var unit = u / torch.where(norms > Scalars.IntZero, norms, torch.ones_like(norms));

        // Screen: cosines of all pairs in float32; only pairs i < j of nonzero units count.
        var u32 = unit.to(ScalarType.Float32);
        var cos = u32.matmul(u32.t());
        if (signInvariant) cos.abs_();
        cos.masked_fill_(torch.ones(n, n, ScalarType.Bool, device: cos.device).tril_(), Scalars.NegativeInfinityF);
        if (zero.Length > 0)
        {
            var zeroIndex = torch.tensor(zero, device: cos.device);
            cos.index_fill_(0, zeroIndex, Scalars.NegativeInfinityF).index_fill_(1, zeroIndex, Scalars.NegativeInfinityF);
        }
        double screenMax = cos.max().item<float>();
        using var threshold = ((float)(Math.Min(cosThreshold, screenMax) - ScreenMargin)).ToScalar();
        var candidates = (cos >= threshold).nonzero(); // [m, 2]

        // Decide: the candidates' cosines in float64.
        var first = candidates.select(1, 0);
        var second = candidates.select(1, 1);
        var exact = (unit.index_select(0, first) * unit.index_select(0, second)).sum(new long[] { 1 });
        if (signInvariant) exact = exact.abs();
        var pairs = candidates.numel() == 0 ? Array.Empty<long>() : candidates.contiguous().data<long>().ToArray();
        var cosines = TensorMath.ToArray(exact);

        double maxCos = cosines.Length == 0 ? double.NaN : cosines.Max();
        var parent = Enumerable.Range(0, n).ToArray();
        int Find(int i) { while (parent[i] != i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; }
        for (int k = 0; k < cosines.Length; k++)
        {
            if (!(cosines[k] > cosThreshold)) continue;
            int ri = Find((int)pairs[2 * k]), rj = Find((int)pairs[2 * k + 1]);
            if (ri != rj) parent[Math.Max(ri, rj)] = Math.Min(ri, rj);
        }
        var clusters = Enumerable.Range(0, n).GroupBy(Find)
            .Where(gr => gr.Count() >= 2)
            .Select(gr => gr.OrderBy(i => i).ToArray())
            .OrderBy(c => c[0])
            .ToList();
        return new DuplicateResult(clusters, maxCos);
    }

    /// <summary>How far below the threshold (or the largest cosine) a float32-screened pair is still checked in float64 (exact search).</summary>
    public const double ScreenMargin = 1e-4;

    /// <summary>How many directions the screened search projects on.</summary>
    public const int ProjectionDimensions = 8;

    /// <summary>Below this many multiply-adds for all pairs (n(n − 1)/2 · k), the screened search compares all pairs.</summary>
    public const long AllPairsBudget = 1L << 20;
}
