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
    /// <remarks><paramref name="grid"/>: false sweeps the window alone (<see cref="Sweep"/>; a test compares the two).</remarks>
    public static DuplicateResult Search(Tensor units, double t, bool signInvariant, double floor, bool grid = true)
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
            var (order, proj, m) = Project(u, norms, live, k, signInvariant);
            try
            {
                if (m < 3 || !grid || !GridSweep(state, order, proj, m, count, floor)) Sweep(state, order, proj, m, count, floor);
            }
            finally
            {
                ArrayPool<int>.Shared.Return(order);
                ArrayPool<float>.Shared.Return(proj);
            }
            return state.Result(state.MaxCos >= floor ? null : floor);
        }
        finally { ArrayPool<double>.Shared.Return(x); }
    }

    /// <summary>
    /// The points projected on m = min(8, k) orthonormal directions Q: one subspace iteration Q ∝ (XsᵀXs)² Ω towards the
    /// principal directions of the centred unit vectors Xs of an evenly spaced sample of ≤ 512 units, from a fixed
    /// pseudo-random start Ω (deterministic). The projections are computed on the raw units [n, k] and divided by the norms.
    /// Returns the points' order by the first projection and the projections in that order, coordinate-major
    /// ([c · count + position], float32), both rented from the shared array pools (the caller returns them; they may be
    /// longer than count and m · count).
    /// <para>
    /// Large temporaries are what this costs at these sizes (a fresh block of memory is paid page by page), so the sample is
    /// gathered and normalised in one tensor (the same float64 quotients as the unit vectors), centred in place, and the
    /// managed work arrays come from the pools.
    /// </para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static (int[] Order, float[] Proj, int M) Project(Tensor u, double[] norms, List<int> live, int k, bool signInvariant)
    {
        int m = Math.Min(Duplicates.ProjectionDimensions, k), nl = live.Count;
        var rng = new Random(17);
        var omega = new double[k * m];
        for (int i = 0; i < omega.Length; i++) omega[i] = rng.NextDouble() - 0.5;
        int rows = Math.Min(nl, DirectionSample);
        var pick = new long[rows];
        var scale = new double[rows];
        for (int r = 0; r < rows; r++) { int i = live[(int)((long)r * nl / rows)]; pick[r] = i; scale[r] = norms[i]; }
        var xs = u.index_select(0, torch.tensor(pick)).div_(torch.tensor(scale).unsqueeze(1)); // rows of the unit vectors
        if (signInvariant) xs = torch.cat(new[] { xs, -xs }, 0);
        xs.sub_(xs.mean(new long[] { 0 }, keepdim: true));
        var z = torch.tensor(omega, new long[] { k, m }, ScalarType.Float64);
        z = torch.linalg.qr(xs.t().matmul(xs.matmul(z))).Q;
        var q = torch.linalg.qr(xs.t().matmul(xs.matmul(z))).Q;    // [k, m], orthonormal columns
        var pAll = MemoryMarshal.Cast<byte, double>(q.t().matmul(u.t()).contiguous().bytes); // [m, n]: the raw units projected
        int n = norms.Length;
        int count = signInvariant ? 2 * nl : nl;
        var p = ArrayPool<double>.Shared.Rent(m * nl);              // the unit vectors projected: divided by the norms
        var first = ArrayPool<double>.Shared.Rent(count);
        try
        {
            for (int c = 0; c < m; c++)
                for (int a = 0; a < nl; a++) p[c * nl + a] = pAll[c * n + live[a]] / norms[live[a]];
            for (int a = 0; a < count; a++) first[a] = a < nl ? p[a] : -p[a - nl];
            var order = ArrayPool<int>.Shared.Rent(count);
            for (int a = 0; a < count; a++) order[a] = a;
            first.AsSpan(0, count).Sort(order.AsSpan(0, count)); // the same introsort as Array.Sort(keys, items)
            var proj = ArrayPool<float>.Shared.Rent(m * count);
            for (int c = 0; c < m; c++)
                for (int pos = 0; pos < count; pos++)
                {
                    int a = order[pos];
                    proj[c * count + pos] = (float)(a < nl ? p[c * nl + a] : -p[c * nl + a - nl]);
                }
            return (order, proj, m);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(p);
            ArrayPool<double>.Shared.Return(first);
        }
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
    /// <see cref="Sweep"/>'s comparisons, the same pairs, found faster: the points are also binned on their second and third
    /// projections into cells of side ≥ √r2 (r2 the squared radius), and only points in the same or adjacent cells are
    /// tested. A pair in cells two apart has a difference &gt; √r2 in one coordinate, so its squared projected distance
    /// (a sum of non-negative float32 terms, each computed as in <see cref="Sweep"/>) exceeds the threshold and
    /// <see cref="Sweep"/> would not compare it either; every other pair gets <see cref="Sweep"/>'s test (the window
    /// |Δp₀| ≤ width, larger minus smaller, then the squared distance over the m coordinates in the same order). Since a
    /// pair's comparison and the result do not depend on the order of the comparisons, the result is
    /// <see cref="Sweep"/>'s. For trained MLP units this tests about half the window's pairs with two binned coordinates
    /// (measured: 0.45 of all pairs in the window, 0.2 in the cells; scripts/measures-micro geometry). Returns false (and
    /// compares nothing) when a binned coordinate is not finite.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool GridSweep(PairState state, int[] order, float[] proj, int m, int count, double floor)
    {
        double r2 = 2 * (1 - floor) * (1 + 1e-5) + 1e-5;
        float thr = (float)r2, width = (float)Math.Sqrt(r2);
        // Cells: side ≥ √r2 with a margin far above the float32 rounding of a difference and its square.
        const int MaxCells = 48;
        Span<double> lo = stackalloc double[2], side = stackalloc double[2];
        Span<int> cells = stackalloc int[2];
        for (int d = 0; d < 2; d++)
        {
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            int c = d + 1;
            for (int pos = 0; pos < count; pos++)
            {
                double v = proj[c * count + pos];
                if (!double.IsFinite(v)) return false;
                if (v < min) min = v;
                if (v > max) max = v;
            }
            double cell = Math.Sqrt(r2) * 1.001 + 1e-6;
            if ((max - min) / cell >= MaxCells - 1) cell = (max - min) / (MaxCells - 1.5); // wider cells only filter less
            lo[d] = min; side[d] = cell;
            cells[d] = (int)Math.Floor((max - min) / cell) + 1;
        }
        int g1 = cells[0], g2 = cells[1], nCells = g1 * g2;
        var start = ArrayPool<int>.Shared.Rent(nCells + 1);
        var cellOf = ArrayPool<int>.Shared.Rent(count);
        var slotPoint = ArrayPool<int>.Shared.Rent(count);
        var bp = ArrayPool<float>.Shared.Rent(m * count);
        try
        {
            Array.Clear(start, 0, nCells + 1);
            for (int pos = 0; pos < count; pos++)
            {
                int i1 = Math.Min(g1 - 1, (int)Math.Floor((proj[count + pos] - lo[0]) / side[0]));
                int i2 = Math.Min(g2 - 1, (int)Math.Floor((proj[2 * count + pos] - lo[1]) / side[1]));
                cellOf[pos] = i1 * g2 + i2;
                start[cellOf[pos] + 1]++;
            }
            for (int b = 0; b < nCells; b++) start[b + 1] += start[b];
            // Counting sort, stable: inside a cell the slots keep the order of the first projection.
            var fill = ArrayPool<int>.Shared.Rent(nCells);
            try
            {
                Array.Copy(start, fill, nCells);
                for (int pos = 0; pos < count; pos++)
                {
                    int slot = fill[cellOf[pos]]++;
                    slotPoint[slot] = order[pos];
                    for (int c = 0; c < m; c++) bp[c * count + slot] = proj[c * count + pos];
                }
            }
            finally { ArrayPool<int>.Shared.Return(fill); }

            for (int a = 0; a + 1 < count; a++) state.Compare(order[a], order[a + 1]); // neighbours in the order, as Sweep
            for (int i1 = 0; i1 < g1; i1++)
                for (int i2 = 0; i2 < g2; i2++)
                {
                    int cell = i1 * g2 + i2;
                    if (start[cell] == start[cell + 1]) continue;
                    Within(state, bp, slotPoint, start[cell], start[cell + 1], m, count, thr, width);
                    // The adjacent cells after this one (each unordered pair of cells once).
                    if (i2 + 1 < g2) Across(state, bp, slotPoint, start[cell], start[cell + 1], start[cell + 1], start[cell + 2], m, count, thr, width);
                    if (i1 + 1 < g1)
                        for (int j2 = Math.Max(0, i2 - 1); j2 <= Math.Min(g2 - 1, i2 + 1); j2++)
                        {
                            int other = (i1 + 1) * g2 + j2;
                            Across(state, bp, slotPoint, start[cell], start[cell + 1], start[other], start[other + 1], m, count, thr, width);
                        }
                }
            return true;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(start);
            ArrayPool<int>.Shared.Return(cellOf);
            ArrayPool<int>.Shared.Return(slotPoint);
            ArrayPool<float>.Shared.Return(bp);
        }
    }

    /// <summary>The pairs of one cell's slots [s0, s1) within the window (later minus earlier ≤ width), tested as in <see cref="Sweep"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Within(PairState state, float[] bp, int[] slotPoint, int s0, int s1, int m, int count, float thr, float width)
    {
        int hi = s0;
        for (int a = s0; a < s1; a++)
        {
            float p0 = bp[a];
            if (hi < a + 1) hi = a + 1;
            while (hi < s1 && bp[hi] - p0 <= width) hi++;
            Test(state, bp, slotPoint, a, a + 1, hi, m, count, thr);
        }
    }

    /// <summary>The pairs of slot a in [a0, a1) and slot b in [b0, b1) (two cells) within the window (larger minus smaller first projection ≤ width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Across(PairState state, float[] bp, int[] slotPoint, int a0, int a1, int b0, int b1, int m, int count, float thr, float width)
    {
        if (a0 == a1 || b0 == b1) return;
        int from = b0, to = b0;
        for (int a = a0; a < a1; a++)
        {
            float p0 = bp[a];
            while (from < b1 && bp[from] < p0 && p0 - bp[from] > width) from++;
            if (to < from) to = from;
            while (to < b1 && !(bp[to] > p0 && bp[to] - p0 > width)) to++;
            Test(state, bp, slotPoint, a, from, to, m, count, thr);
        }
    }

    /// <summary>Slot a against slots [b, hi): the squared projected distance over the m coordinates, one vector of slots per instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Test(PairState state, float[] bp, int[] slotPoint, int a, int b, int hi, int m, int count, float thr)
    {
        int lanes = Vector<float>.Count;
        var threshold = new Vector<float>(thr);
        if (m == 8)
        {
            // The usual case (ProjectionDimensions), unrolled with slot a's coordinates held in registers: the same
            // differences, squares and sums in the same order as the loop below, so the same pairs pass.
            Vector<float> a0 = new(bp[a]), a1 = new(bp[count + a]), a2 = new(bp[2 * count + a]), a3 = new(bp[3 * count + a]),
                a4 = new(bp[4 * count + a]), a5 = new(bp[5 * count + a]), a6 = new(bp[6 * count + a]), a7 = new(bp[7 * count + a]);
            for (; b + lanes <= hi; b += lanes)
            {
                var d = new Vector<float>(bp, b) - a0;
                var sum = Vector<float>.Zero + d * d;
                d = new Vector<float>(bp, count + b) - a1; sum += d * d;
                d = new Vector<float>(bp, 2 * count + b) - a2; sum += d * d;
                d = new Vector<float>(bp, 3 * count + b) - a3; sum += d * d;
                d = new Vector<float>(bp, 4 * count + b) - a4; sum += d * d;
                d = new Vector<float>(bp, 5 * count + b) - a5; sum += d * d;
                d = new Vector<float>(bp, 6 * count + b) - a6; sum += d * d;
                d = new Vector<float>(bp, 7 * count + b) - a7; sum += d * d;
                if (Vector.LessThanOrEqualAny(sum, threshold))
                    for (int l = 0; l < lanes; l++)
                        if (sum[l] <= thr) state.Compare(slotPoint[a], slotPoint[b + l]);
            }
        }
        for (; b + lanes <= hi; b += lanes)
        {
            var sum = Vector<float>.Zero;
            for (int c = 0; c < m; c++)
            {
                var d = new Vector<float>(bp, c * count + b) - new Vector<float>(bp[c * count + a]);
                sum += d * d;
            }
            if (Vector.LessThanOrEqualAny(sum, threshold))
                for (int l = 0; l < lanes; l++)
                    if (sum[l] <= thr) state.Compare(slotPoint[a], slotPoint[b + l]);
        }
        for (; b < hi; b++)
        {
            float sum = 0;
            for (int c = 0; c < m; c++) { float d = bp[c * count + b] - bp[c * count + a]; sum += d * d; }
            if (sum <= thr) state.Compare(slotPoint[a], slotPoint[b]);
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
