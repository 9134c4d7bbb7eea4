using TorchSharp;
using Google.OrTools.Graph;
using SymDsl.Diagnostics;
using SymDsl.IR;
using static TorchSharp.torch;

namespace SymDsl.Torch.Symmetry;

/// <summary>What alignment found: one permutation per space (by symmetry name), and how many sweeps it took.</summary>
public sealed record PermutationAlignment(IReadOnlyList<SymmetryIR> Spaces, IReadOnlyDictionary<string, GroupElement> Permutations, int Sweeps)
{
    /// <summary>Units each space moved (entries i with π(i) ≠ i, over its blocks).</summary>
    public int Moved(string space) => Permutations[space].Permutations!.Sum(p => p.Where((v, i) => v != i).Count());
}

/// <summary>
/// Permutation alignment of two trained models of one IR (Ainsworth, Hayase &amp; Srinivasa 2023, "Git Re-Basin"), over
/// every permutation symmetry the compiler inferred or was told (<see cref="Spaces"/>): no hand-written permutation spec.
/// A permutation space is a <see cref="SymmetryIR"/> of kind permutation; its <see cref="SymmetryIR.Actions"/> say which
/// axes of which parameters it moves (with <see cref="ParamActionIR.Unit"/> entries per unit: heads, flattened tiles),
/// its <see cref="SymmetryIR.BufferActions"/> which buffers (BatchNorm statistics).
/// </summary>
public static class WeightMatching
{
    /// <summary>
    /// The permutation spaces of <paramref name="model"/>: its permutation symmetries with at least two units, each set of
    /// actions once (a declared symmetry and an inferred one of the same site are one space), in the model's order.
    /// </summary>
    public static IReadOnlyList<SymmetryIR> Spaces(ModelIR model) =>
        model.Symmetries.Where(s => s.Kind == SymmetryKind.Permutation && s.Dim >= 2 && s.Actions.Count > 0)
            .GroupBy(s => $"{s.Dim}x{s.Blocks}:" + string.Join(";", s.Actions.Concat(s.BufferActions).Select(a => $"{a.Parameter}/{a.Axis}/{a.Role}/{a.Unit}")))
            .Select(g => g.First()).ToList();

    /// <summary>
    /// Weight matching: coordinate descent over the spaces in a random order (from <paramref name="rng"/>), each step solving
    /// the linear assignment problem max_π Σ_i C[i, π(i)], C = Σ over the space's actions of A's unit rows · (B's unit rows with
    /// every other current permutation applied), one LAP per block; a space's permutation changes only when the
    /// objective Σ_p ⟨A_p, π(B)_p⟩ grows. Stops after a sweep with no change (or <paramref name="maxSweeps"/>).
    /// <paramref name="a"/>, <paramref name="b"/>: effective parameters by logical name.
    /// </summary>
    public static PermutationAlignment Match(IReadOnlyList<SymmetryIR> spaces, IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b,
        Random rng, int maxSweeps = 100)
    {
        var current = spaces.ToDictionary(s => s.Name, GroupElement.Identity);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var a64 = a.ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float64));
        var b64 = b.ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float64));
        int sweeps = 0;
        for (; sweeps < maxSweeps; sweeps++)
        {
            bool changed = false;
            foreach (var space in spaces.OrderBy(_ => rng.Next()).ToList())
            {
                using var step = NewDisposeScope();
                int total = space.Dim * Math.Max(1, space.Blocks);
                var score = zeros(total, total, ScalarType.Float64);
                foreach (var action in space.Actions)
                {
                    if (!a64.TryGetValue(action.Parameter, out var pa) || !b64.TryGetValue(action.Parameter, out var pb))
                        throw new SymDslException($"permutation {space.Name} acts on parameter {action.Parameter}, which the runs do not have");
                    var others = Permuted(spaces, current, action.Parameter, pb, skip: action);
                    score.add_(Rows(pa, action, total).matmul(Rows(others, action, total).mT));
                }
                var next = Solve(space, score);
                if (Objective(score, next) > Objective(score, current[space.Name]) + 1e-12 * (1 + Math.Abs(Objective(score, current[space.Name]))))
                {
                    current[space.Name] = next;
                    changed = true;
                }
            }
            if (!changed) { sweeps++; break; }
        }
        return new PermutationAlignment(spaces, current, sweeps);
    }

    /// <summary>
    /// Activation matching: per space, the permutation that maximises the summed correlation of A's and B's units at the
    /// space's site (<see cref="SymmetryIR.Target"/>) on the same inputs, one LAP per block. <paramref name="activationsA"/>,
    /// <paramref name="activationsB"/>: per space name, [N, units] (the caller flattens everything but the unit axis into
    /// rows). Spaces without activations are matched by weights (<see cref="Match"/>, the others held fixed).
    /// </summary>
    public static PermutationAlignment MatchActivations(IReadOnlyList<SymmetryIR> spaces, IReadOnlyDictionary<string, Tensor> activationsA,
        IReadOnlyDictionary<string, Tensor> activationsB, IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, Random rng)
    {
        var current = spaces.ToDictionary(s => s.Name, GroupElement.Identity);
        using var scope = NewDisposeScope();
        foreach (var space in spaces)
        {
            if (!activationsA.TryGetValue(space.Name, out var xa) || !activationsB.TryGetValue(space.Name, out var xb)) continue;
            current[space.Name] = Solve(space, Correlation(xa, xb));
        }
        var rest = spaces.Where(s => !activationsA.ContainsKey(s.Name)).ToList();
        if (rest.Count == 0) return new PermutationAlignment(spaces, current, 1);
        // The spaces without a site: weight matching with the activation-matched permutations applied to B first.
        var fixedB = ApplyAll(spaces.Where(s => activationsA.ContainsKey(s.Name)).ToList(), current, b);
        var byWeights = Match(rest, a, fixedB, rng);
        foreach (var (name, g) in byWeights.Permutations) current[name] = g;
        return new PermutationAlignment(spaces, current, byWeights.Sweeps);
    }

    /// <summary>Pearson correlation of every unit of <paramref name="xa"/> [N, u] with every unit of <paramref name="xb"/> [N, u].</summary>
    public static Tensor Correlation(Tensor xa, Tensor xb)
    {
        var ca = xa.to(ScalarType.Float64) - xa.to(ScalarType.Float64).mean([0], keepdim: true);
        var cb = xb.to(ScalarType.Float64) - xb.to(ScalarType.Float64).mean([0], keepdim: true);
        using var eps = 1e-12.ToScalar();
        var sa = (ca * ca).sum([0]).sqrt().clamp_min(eps);
        var sb = (cb * cb).sum([0]).sqrt().clamp_min(eps);
        return ca.mT.matmul(cb) / sa.unsqueeze(1) / sb.unsqueeze(0);
    }

    /// <summary>
    /// Every space's permutation applied to <paramref name="parameters"/> in the order of <paramref name="spaces"/> (new
    /// tensors for the parameters acted on, in the caller's dispose scope; the others passed through).
    /// </summary>
    public static Dictionary<string, Tensor> ApplyAll(IReadOnlyList<SymmetryIR> spaces, IReadOnlyDictionary<string, GroupElement> permutations,
        IReadOnlyDictionary<string, Tensor> parameters)
    {
        var result = new Dictionary<string, Tensor>(parameters);
        foreach (var space in spaces)
            if (permutations.TryGetValue(space.Name, out var g)) result = GroupActions.Apply(space, g, result);
        return result;
    }

    /// <summary>The same for layer buffers (<see cref="GroupActions.ApplyToBuffers"/>: BatchNorm's running statistics move with their channels).</summary>
    public static Dictionary<string, Tensor> ApplyAllToBuffers(IReadOnlyList<SymmetryIR> spaces, IReadOnlyDictionary<string, GroupElement> permutations,
        IReadOnlyDictionary<string, Tensor> buffers)
    {
        var result = new Dictionary<string, Tensor>(buffers);
        foreach (var space in spaces)
            if (permutations.TryGetValue(space.Name, out var g)) result = GroupActions.ApplyToBuffers(space, g, result);
        return result;
    }

    /// <summary>Parameter <paramref name="name"/> of B with every space's current permutation applied, except action <paramref name="skip"/>.</summary>
    static Tensor Permuted(IReadOnlyList<SymmetryIR> spaces, Dictionary<string, GroupElement> current, string name, Tensor t, ParamActionIR skip)
    {
        foreach (var space in spaces)
            foreach (var action in space.Actions)
                if (action.Parameter == name && !ReferenceEquals(action, skip))
                    t = GroupActions.ApplyOne(space, current[space.Name], action, t);
        return t;
    }

    /// <summary>The tensor's entries along the action's axis as rows [units, rest] (a unit's Unit consecutive entries together).</summary>
    static Tensor Rows(Tensor t, ParamActionIR action, int total)
    {
        int dims = (int)t.dim();
        int axis = action.Axis < 0 ? action.Axis + dims : action.Axis;
        return t.movedim([axis], [0]).reshape(total, -1);
    }

    static double Objective(Tensor score, GroupElement g)
    {
        int n = g.Dim;
        double sum = 0;
        var s = score.data<double>();
        long total = score.shape[0];
        for (int blk = 0; blk < g.Blocks; blk++)
            for (int i = 0; i < n; i++)
                sum += s[(blk * n + i) * total + blk * n + g.Permutations![blk][i]];
        return sum;
    }

    /// <summary>One LAP per block of the score matrix: the permutation maximising Σ_i score[i, π(i)].</summary>
    static GroupElement Solve(SymmetryIR space, Tensor score)
    {
        int n = space.Dim, blocks = Math.Max(1, space.Blocks);
        var s = score.contiguous().data<double>().ToArray();
        long total = score.shape[0];
        var perms = new int[blocks][];
        for (int blk = 0; blk < blocks; blk++)
        {
            var block = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    block[i, j] = s[(blk * n + i) * total + blk * n + j];
            perms[blk] = Assignment.Maximise(block);
        }
        return new GroupElement(SymmetryKind.Permutation, n, blocks) { Permutations = perms };
    }
}

/// <summary>
/// The linear assignment problem with Google OR-Tools' <c>LinearSumAssignment</c> (integer costs: the scores are scaled so the
/// largest magnitude is 10⁹, a resolution of 10⁻⁹ of it).
/// </summary>
public static class Assignment
{
    /// <summary>The permutation π maximising Σ_i score[i, π(i)] of a square matrix.</summary>
    public static int[] Maximise(double[,] score)
    {
        int n = score.GetLength(0);
        if (score.GetLength(1) != n) throw new ArgumentException("the score matrix must be square");
        double max = 0;
        foreach (var v in score) if (double.IsFinite(v)) max = Math.Max(max, Math.Abs(v));
        if (max == 0 || n == 1) return Enumerable.Range(0, n).ToArray();
        double scale = 1e9 / max;
        using var lap = new LinearSumAssignment();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                var v = score[i, j];
                if (!double.IsFinite(v)) throw new SymDslException("alignment: a score is not finite (NaN or infinite weights or activations)");
                lap.AddArcWithCost(i, j, -(long)Math.Round(v * scale));
            }
        var status = lap.Solve();
        if (status != LinearSumAssignment.Status.OPTIMAL) throw new InvalidOperationException($"linear assignment failed: {status}");
        return Enumerable.Range(0, n).Select(i => lap.RightMate(i)).ToArray();
    }
}
