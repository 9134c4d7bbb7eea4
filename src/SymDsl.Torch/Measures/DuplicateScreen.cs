using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SymDsl.Torch.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>
/// The screened search of <see cref="Duplicates"/> (<see cref="DuplicateSearch.Screened"/>; the method and its guarantees
/// are described on <see cref="Duplicates.FromUnitVectors"/>). Dense algebra in torch (float64), the pair sweep in C#.
/// Called a few times per run, so the hot methods skip the JIT's unoptimised tier.
/// </summary>
internal static class DuplicateScreen
{
    /// <summary>Rows of the principal-direction sample (the directions only steer the screen; any directions keep it exact).</summary>
    const int DirectionSample = 512;

    /// <summary>Clusters at cosine &gt; <paramref name="t"/>; every pair with cosine ≥ <paramref name="floor"/> (≤ t) compared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static DuplicateResult Search(Tensor units, double t, bool signInvariant, double floor)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var u = TensorMath.F64(units);
        int n = (int)u.shape[0];
        u = u.reshape(n, -1).contiguous();
        int k = (int)u.shape[1];
        // One block copy out, then the unit vectors of the nonzero units in C# (zero and NaN norms are never linked).
        var x = ArrayPool<double>.Shared.Rent(n * k);
        try
        {
            var raw = MemoryMarshal.Cast<byte, double>(u.bytes);
            var live = new List<int>(n);
            var norms = new double[n];
            for (int i = 0; i < n; i++)
            {
                var row = raw.Slice(i * k, k);
                double sq = 0;
                for (int c = 0; c < k; c++) sq += row[c] * row[c];
                norms[i] = Math.Sqrt(sq);
                if (!(norms[i] > 0)) continue;
                int at = live.Count * k;
                for (int c = 0; c < k; c++) x[at + c] = row[c] / norms[i];
                live.Add(i);
            }
            int nl = live.Count;
            if (nl < 2) return new DuplicateResult([], double.NaN);
            // Points: the unit vectors, and with signInvariant their negations (point a is ±row a % nl).
            int count = signInvariant ? 2 * nl : nl;
            var state = new PairState(n, t, x, k, nl, live);
            if ((long)count * (count - 1) / 2 * k <= Duplicates.AllPairsBudget)
            {
                for (int a = 0; a < count; a++)
                    for (int b = a + 1; b < count; b++) state.Compare(a, b);
                return state.Result(bound: null);
            }
            var (order, proj, m) = Project(u, x, norms, live, k, signInvariant);
            Sweep(state, order, proj, m, count, floor);
            return state.Result(state.MaxCos >= floor ? null : floor);
        }
        finally { ArrayPool<double>.Shared.Return(x); }
    }

    /// <summary>
    /// The points projected on m = min(8, k) orthonormal directions Q: one subspace iteration Q ∝ (XsᵀXs)² Ω towards the
    /// principal directions of the centred unit vectors Xs of an evenly spaced sample of ≤ 512 units, from a fixed
    /// pseudo-random start Ω (deterministic). The projections are computed on the raw units [n, k] and divided by the norms. Returns the points' order by the first projection and the projections in that
    /// order, coordinate-major ([c · count + position], float32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static (int[] Order, float[] Proj, int M) Project(Tensor u, double[] x, double[] norms, List<int> live, int k, bool signInvariant)
    {
        int m = Math.Min(Duplicates.ProjectionDimensions, k), nl = live.Count;
        var rng = new Random(17);
        var omega = new double[k * m];
        for (int i = 0; i < omega.Length; i++) omega[i] = rng.NextDouble() - 0.5;
        int rows = Math.Min(nl, DirectionSample);
        var sample = new double[rows * k];
        for (int r = 0; r < rows; r++) Array.Copy(x, (int)((long)r * nl / rows) * k, sample, r * k, k);
        var xs = torch.tensor(sample, new long[] { rows, k }, ScalarType.Float64);
        if (signInvariant) xs = torch.cat(new[] { xs, -xs }, 0);
        xs = xs - xs.mean(new long[] { 0 }, keepdim: true);
        var z = torch.tensor(omega, new long[] { k, m }, ScalarType.Float64);
        z = torch.linalg.qr(xs.t().matmul(xs.matmul(z))).Q;
        var q = torch.linalg.qr(xs.t().matmul(xs.matmul(z))).Q;    // [k, m], orthonormal columns
        var pAll = MemoryMarshal.Cast<byte, double>(q.t().matmul(u.t()).contiguous().bytes); // [m, n]: the raw units projected
        int n = norms.Length;
        var p = new double[m * nl];                                 // the unit vectors projected: divided by the norms
        for (int c = 0; c < m; c++)
            for (int a = 0; a < nl; a++) p[c * nl + a] = pAll[c * n + live[a]] / norms[live[a]];

        int count = signInvariant ? 2 * nl : nl;
        var first = new double[count];
        for (int a = 0; a < count; a++) first[a] = a < nl ? p[a] : -p[a - nl];
        var order = new int[count];
        for (int a = 0; a < count; a++) order[a] = a;
        Array.Sort(first, order);
        var proj = new float[m * count];
        for (int c = 0; c < m; c++)
            for (int pos = 0; pos < count; pos++)
            {
                int a = order[pos];
                proj[c * count + pos] = (float)(a < nl ? p[c * nl + a] : -p[c * nl + a - nl]);
            }
        return (order, proj, m);
    }

    /// <summary>
    /// Compares every pair whose projections lie within r = √(2(1 − floor)) (plus a margin for the float32 projections):
    /// a window on the first projection, then the squared projected distance, one vector of pairs per instruction. Also each
    /// point with its successor in the order (a cheap lower bound on the largest cosine when nothing lies within r).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Sweep(PairState state, int[] order, float[] proj, int m, int count, double floor)
    {
        // Projected coordinates carry float32 rounding (≤ 2⁻²⁴ each, |p| ≤ 1): widen the test well beyond it.
        double r2 = 2 * (1 - floor) * (1 + 1e-5) + 1e-5;
        float thr = (float)r2, width = (float)Math.Sqrt(r2);
        var threshold = new Vector<float>(thr);
        int lanes = Vector<float>.Count;
        Span<float> acc = stackalloc float[lanes];
        int hi = 0;
        for (int a = 0; a < count; a++)
        {
            if (a + 1 < count) state.Compare(order[a], order[a + 1]);
            float p0 = proj[a];
            if (hi < a + 1) hi = a + 1;
            while (hi < count && proj[hi] - p0 <= width) hi++;
            int b = a + 1;
            for (; b + lanes <= hi; b += lanes)
            {
                var sum = Vector<float>.Zero;
                for (int c = 0; c < m; c++)
                {
                    var d = new Vector<float>(proj, c * count + b) - new Vector<float>(proj[c * count + a]);
                    sum += d * d;
                }
                if (Vector.LessThanOrEqualAny(sum, threshold))
                {
                    sum.CopyTo(acc);
                    for (int l = 0; l < lanes; l++)
                        if (acc[l] <= thr) state.Compare(order[a], order[b + l]);
                }
            }
            for (; b < hi; b++)
            {
                float sum = 0;
                for (int c = 0; c < m; c++) { float d = proj[c * count + b] - proj[c * count + a]; sum += d * d; }
                if (sum <= thr) state.Compare(order[a], order[b]);
            }
        }
    }

    /// <summary>
    /// Union–find over the units, the largest compared cosine, and the float64 comparison of two points (point a is row
    /// a % nl of the unit vectors <paramref name="x"/>, negated when a ≥ nl; unit live[a % nl]).
    /// </summary>
    sealed class PairState(int n, double t, double[] x, int k, int nl, List<int> live)
    {
        readonly int[] _parent = Enumerable.Range(0, n).ToArray();
        public double MaxCos { get; private set; } = double.NaN;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Compare(int a, int b)
        {
            int ra = a < nl ? a : a - nl, rb = b < nl ? b : b - nl;
            if (ra == rb) return; // a unit and its own negation
            double cos = Dot(ra * k, rb * k);
            if ((a < nl) != (b < nl)) cos = -cos;
            if (double.IsNaN(MaxCos) || cos > MaxCos) MaxCos = cos;
            if (!(cos > t)) return;
            int ri = Find(live[ra]), rj = Find(live[rb]);
            if (ri != rj) _parent[Math.Max(ri, rj)] = Math.Min(ri, rj); // the root stays the smallest index of its cluster
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        double Dot(int ia, int ib)
        {
            int lanes = Vector<double>.Count, c = 0;
            var acc = Vector<double>.Zero;
            for (; c + lanes <= k; c += lanes) acc += new Vector<double>(x, ia + c) * new Vector<double>(x, ib + c);
            double s = Vector.Sum(acc);
            for (; c < k; c++) s += x[ia + c] * x[ib + c];
            return s;
        }

        int Find(int i) { while (_parent[i] != i) { _parent[i] = _parent[_parent[i]]; i = _parent[i]; } return i; }

        /// <summary>Clusters of ≥ 2 units, each ascending, ordered by their smallest index (= their root).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public DuplicateResult Result(double? bound)
        {
            var size = new int[n];
            for (int i = 0; i < n; i++) size[Find(i)]++;
            var clusters = new List<int[]>();
            var at = new Dictionary<int, (int[] Members, int Filled)>();
            for (int i = 0; i < n; i++)
            {
                int r = _parent[i]; // after Find above, every parent is its root
                if (size[r] < 2) continue;
                if (!at.TryGetValue(r, out var c)) { c = (new int[size[r]], 0); clusters.Add(c.Members); }
                c.Members[c.Filled] = i;
                at[r] = (c.Members, c.Filled + 1);
            }
            return new DuplicateResult(clusters, MaxCos) { MaxCosineBound = bound };
        }
    }
}
