using SymDsl.Diagnostics;
using SymDsl.IR;
using static TorchSharp.torch;

namespace SymDsl.Torch.Symmetry;

/// <summary>What rotation matching found: one orthogonal matrix per block (head) per rotation space, by symmetry name.</summary>
public sealed record RotationAlignment(IReadOnlyList<SymmetryIR> Spaces, IReadOnlyDictionary<string, GroupElement> Rotations)
{
    /// <summary>‖R − I‖_F summed over the space's blocks (0 when the space was left as it is).</summary>
    public double Distance(string space)
    {
        var g = Rotations[space];
        double sum = 0;
        foreach (var m in g.Matrices!)
        {
            double s = 0;
            for (int i = 0; i < g.Dim; i++)
                for (int j = 0; j < g.Dim; j++)
                {
                    double d = m[i * g.Dim + j] - (i == j ? 1.0 : 0.0);
                    s += d * d;
                }
            sum += Math.Sqrt(s);
        }
        return sum;
    }
}

/// <summary>
/// Rotation alignment (after permutation matching): for each rotation symmetry the compiler inferred or was told (the
/// query–key and value–output spaces inside attention heads), the orthogonal R per block that best maps B onto A —
/// orthogonal Procrustes. With M = Σ over the space's actions of A_p·B_pᵀ (rows = the acted-on axis, one block at a time),
/// R = U·Vᵀ from M = U·S·Vᵀ maximises Σ_p ⟨A_p, R·B_p⟩. For an orthogonal R an inverse action (R⁻ᵀ) is R itself, so
/// forward and inverse actions add alike. Orthogonal matrices are elements of the rotation group (GL), so applying R
/// (<see cref="GroupActions.Apply"/>) keeps B's function.
/// </summary>
public static class RotationMatching
{
    /// <summary>The rotation spaces of <paramref name="model"/>: rotation symmetries of two or more units with actions, each set of actions once.</summary>
    public static IReadOnlyList<SymmetryIR> Spaces(ModelIR model) =>
        model.Symmetries.Where(s => s.Kind == SymmetryKind.Rotation && s.Dim >= 2 && s.Actions.Count > 0)
            .GroupBy(s => $"{s.Dim}x{s.Blocks}:" + string.Join(";", s.Actions.Select(a => $"{a.Parameter}/{a.Axis}/{a.Role}/{a.Unit}")))
            .Select(g => g.First()).ToList();

    /// <summary>
    /// Block coordinate ascent: sweeps over the spaces in order, each step solving Procrustes for one space with every other
    /// space's current rotation applied to B (spaces share parameters: attn.o's rows turn with the residual stream, its columns
    /// with the heads' value–output space), composing the step's R onto the space's rotation; each step can only raise
    /// Σ_p ⟨A_p, R(B)_p⟩. Stops after a sweep whose steps all stay within 1e-12 of the identity (or <paramref name="maxSweeps"/>).
    /// <paramref name="a"/>, <paramref name="b"/>: effective parameters by logical name (B already permuted).
    /// </summary>
    public static RotationAlignment Match(IReadOnlyList<SymmetryIR> spaces, IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b,
        int maxSweeps = 200)
    {
        var found = spaces.ToDictionary(s => s.Name, GroupElement.Identity);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var current = new Dictionary<string, Tensor>(b);
        for (int sweep = 0; sweep < maxSweeps && spaces.Count > 0; sweep++)
        {
            double largest = 0;
            foreach (var space in spaces)
            {
                var step = Step(space, a, current);
                largest = Math.Max(largest, step.Deviation);
                var next = GroupActions.Apply(space, step.Element, current);
                foreach (var key in next.Keys.Where(k => !ReferenceEquals(next[k], current[k])).ToList())
                    if (!b.TryGetValue(key, out var original) || !ReferenceEquals(original, current[key])) current[key].Dispose();
                current = next;
                var prev = found[space.Name];
                found[space.Name] = prev with { Matrices = prev.Matrices!.Select((m, blk) => Compose(step.Element.Matrices![blk], m, space.Dim)).ToArray() };
            }
            if (largest < 1e-12) break;
        }
        return new RotationAlignment(spaces, found);
    }

    /// <summary>One Procrustes step: the orthogonal R per block maximising Σ_p ⟨A_p, R·B_p⟩ over the space's actions, and max|R − I|.</summary>
    static (GroupElement Element, double Deviation) Step(SymmetryIR space, IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b)
    {
        using var scope = NewDisposeScope();
        int n = space.Dim, blocks = Math.Max(1, space.Blocks), total = n * blocks;
        var m = zeros(total, total, ScalarType.Float64);
        foreach (var action in space.Actions)
        {
            if (action.Role is not (ActionRole.Forward or ActionRole.Inverse))
                throw new ArgumentException($"rotation {space.Name}: unsupported role {action.Role} on {action.Parameter}");
            if (!a.TryGetValue(action.Parameter, out var pa) || !b.TryGetValue(action.Parameter, out var pb))
                throw new SymDslException($"rotation {space.Name} acts on parameter {action.Parameter}, which the runs do not have");
            m.add_(Rows(pa, action, total).matmul(Rows(pb, action, total).mT));
        }
        var matrices = new double[blocks][];
        double deviation = 0;
        for (int blk = 0; blk < blocks; blk++)
        {
            var mb = m[TensorIndex.Slice(blk * n, (blk + 1) * n), TensorIndex.Slice(blk * n, (blk + 1) * n)];
            var (u, _, vh) = linalg.svd(mb, fullMatrices: false);
            var r = u.matmul(vh);
            deviation = Math.Max(deviation, (r - eye(n, dtype: ScalarType.Float64)).abs().max().item<double>());
            matrices[blk] = r.contiguous().data<double>().ToArray();
        }
        return (new GroupElement(SymmetryKind.Rotation, n, blocks) { Matrices = matrices }, deviation);
    }

    /// <summary>x·y of two row-major n×n matrices (applying y, then x).</summary>
    static double[] Compose(double[] x, double[] y, int n)
    {
        var r = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                double v = x[i * n + k];
                for (int j = 0; j < n; j++) r[i * n + j] += v * y[k * n + j];
            }
        return r;
    }

    /// <summary>Every space's rotation applied to <paramref name="parameters"/> (new tensors in the caller's scope for those acted on).</summary>
    public static Dictionary<string, Tensor> ApplyAll(RotationAlignment alignment, IReadOnlyDictionary<string, Tensor> parameters)
    {
        var result = new Dictionary<string, Tensor>(parameters);
        foreach (var space in alignment.Spaces)
            if (alignment.Rotations.TryGetValue(space.Name, out var g)) result = GroupActions.Apply(space, g, result);
        return result;
    }

    /// <summary>The tensor's entries along the action's axis as rows [total, rest], float64 (a unit's Unit consecutive entries together).</summary>
    static Tensor Rows(Tensor t, ParamActionIR action, int total)
    {
        int dims = (int)t.dim();
        int axis = action.Axis < 0 ? action.Axis + dims : action.Axis;
        return t.detach().to(ScalarType.Float64).movedim([axis], [0]).reshape(total, -1);
    }
}
