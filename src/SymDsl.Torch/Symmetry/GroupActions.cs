using SymDsl.IR;
using SymDsl.Torch.Measures;
using TorchSharp;
using static TorchSharp.torch;
using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Symmetry;

/// <summary>
/// Sampling group elements of a <see cref="SymmetryIR"/> and applying them to parameters, exactly as
/// <see cref="ActionRole"/> documents: along <see cref="ParamActionIR.Axis"/> (of size Blocks·Dim), block b holding
/// entries b·Dim … (b+1)·Dim−1, acted on by that block's part of g.
/// </summary>
public static class GroupActions
{
    /// <summary>
    /// A random element of the group of <paramref name="sym"/>, drawn from <paramref name="rng"/> (deterministic for a seed):
    /// <list type="bullet">
    /// <item>permutation: an independent uniform permutation of Dim per block (Fisher–Yates);</item>
    /// <item>rescale: c_i = exp(N(0, scale²)) per unit;</item>
    /// <item>sign: s_i = ±1 with probability ½ each per unit;</item>
    /// <item>rotation: per block A orthogonal (Haar: Q of the QR of a Gaussian matrix times sign(diag R)), or for
    ///   <see cref="RotationGroup.General"/> A = Q₁ diag(exp(N(0, scale²))) Q₂ (condition number ≈ exp(4·scale) at most in practice);</item>
    /// <item>translation: c ~ N(0, (4·scale)²), large enough that a missing invariance is visible;</item>
    /// <item>scale: c = exp(N(0, scale²)).</item>
    /// </list>
    /// </summary>
    public static GroupElement Sample(SymmetryIR sym, Random rng, double scale = 0.5, RotationGroup rotation = RotationGroup.General)
    {
        ArgumentNullException.ThrowIfNull(sym);
        int n = sym.Dim, nb = Math.Max(1, sym.Blocks);
        if (n <= 0) throw new ArgumentException($"symmetry {sym.Name}: Dim must be positive, got {n}");
        switch (sym.Kind)
        {
            case SymmetryKind.Permutation:
                return new GroupElement(sym.Kind, n, nb)
                {
                    Permutations = NonIdentity(n >= 2, () => Enumerable.Range(0, nb).Select(_ =>
                    {
                        var p = Enumerable.Range(0, n).ToArray();
                        for (int i = n - 1; i > 0; i--)
                        {
                            int j = rng.Next(i + 1);
                            (p[i], p[j]) = (p[j], p[i]);
                        }
                        return p;
                    }).ToArray(), p => p.Select((v, i) => v == i).All(x => x)),
                };
            case SymmetryKind.Rescale:
                return new GroupElement(sym.Kind, n, nb)
                {
                    Scales = Enumerable.Range(0, nb).Select(_ => Enumerable.Range(0, n).Select(_ => Math.Exp(scale * Gaussian(rng))).ToArray()).ToArray(),
                };
            case SymmetryKind.Sign:
                return new GroupElement(sym.Kind, n, nb)
                {
                    Signs = NonIdentity(true, () => Enumerable.Range(0, nb).Select(_ => Enumerable.Range(0, n).Select(_ => rng.Next(2) == 0 ? -1.0 : 1.0).ToArray()).ToArray(),
                        s => s.All(x => x == 1.0)),
                };
            case SymmetryKind.Rotation:
                return new GroupElement(sym.Kind, n, nb)
                {
                    Matrices = Enumerable.Range(0, nb).Select(_ => rotation == RotationGroup.Orthogonal
                        ? RandomOrthogonal(n, rng)
                        : RandomInvertible(n, rng, scale)).ToArray(),
                };
            case SymmetryKind.Translation:
                return new GroupElement(sym.Kind, n, nb) { Shift = 4.0 * scale * Gaussian(rng) };
            case SymmetryKind.Scale:
                return new GroupElement(sym.Kind, n, nb) { Factor = Math.Exp(scale * Gaussian(rng)) };
            default:
                throw new ArgumentOutOfRangeException(nameof(sym), sym.Kind, "unknown symmetry kind");
        }
    }

    /// <summary>
    /// Draws until not every block is the identity (a permutation of n ≥ 2 units, a sign vector), so that a check moves the
    /// parameters; at most 64 draws. Groups with one element (a permutation of one unit) are returned as drawn.
    /// </summary>
    static T[] NonIdentity<T>(bool nontrivial, Func<T[]> draw, Func<T, bool> isIdentity)
    {
        var g = draw();
        for (int i = 0; i < 64 && nontrivial && g.All(isIdentity); i++) g = draw();
        return g;
    }

    /// <summary>
    /// New parameter tensors with g applied. Every parameter named by an action of <paramref name="sym"/> is replaced by
    /// a new tensor (same dtype and device as the input); all actions on the same parameter are applied in order.
    /// Parameters not acted on are passed through (the same tensor objects). The caller owns the new tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Apply(SymmetryIR sym, GroupElement g, IReadOnlyDictionary<string, Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(sym);
        ArgumentNullException.ThrowIfNull(g);
        if (g.Kind != sym.Kind) throw new ArgumentException($"group element of kind {g.Kind} for symmetry {sym.Name} of kind {sym.Kind}");
        var result = new Dictionary<string, Tensor>(parameters);
        using var _ = torch.no_grad();
        foreach (var group in sym.Actions.GroupBy(a => a.Parameter))
        {
            if (!parameters.TryGetValue(group.Key, out var original))
                throw new KeyNotFoundException($"symmetry {sym.Name} acts on parameter '{group.Key}', which is not in the parameter dictionary");
            using var scope = torch.NewDisposeScope();
            var t = original.detach();
            foreach (var action in group)
                t = ApplyOne(sym, g, action, t);
            var final = t.to(original.dtype, original.device).clone();
            result[group.Key] = final.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// New buffer tensors with g applied as <see cref="SymmetryIR.BufferActions"/> says (a BatchNorm's running mean moves
    /// with its input channels: permuted, rescaled, flipped, shifted; its running variance permuted and scaled by c²), so that
    /// g applied to the parameters (<see cref="Apply"/>) and to the buffers of a trained model keeps its evaluation-mode
    /// function (exactly for permutation, sign and translation; up to BatchNorm's eps for rescale and scale). Buffers no
    /// action names are passed through; the caller owns the new tensors.
    /// </summary>
    public static Dictionary<string, Tensor> ApplyToBuffers(SymmetryIR sym, GroupElement g, IReadOnlyDictionary<string, Tensor> buffers)
    {
        ArgumentNullException.ThrowIfNull(sym);
        var result = new Dictionary<string, Tensor>(buffers);
        if (sym.BufferActions.Count == 0) return result;
        var asParameters = sym with { Actions = sym.BufferActions };
        return Apply(asParameters, g, buffers);
    }

    /// <summary>Apply g to one tensor for one action (inside the caller's dispose scope).</summary>
    internal static Tensor ApplyOne(SymmetryIR sym, GroupElement g, ParamActionIR action, Tensor t)
    {
        int n = g.Dim, nb = g.Blocks, total = n * nb;
        var dtype = t.dtype;
        switch (sym.Kind)
        {
            case SymmetryKind.Translation:
                if (action.Role != ActionRole.Shift && action.Role != ActionRole.Forward)
                    throw new ArgumentException($"translation {sym.Name}: unsupported role {action.Role} on {action.Parameter}");
                return t + g.Shift;
            case SymmetryKind.Scale:
                return action.Role switch
                {
                    ActionRole.Forward => t * g.Factor,
                    ActionRole.Inverse => t / g.Factor,
                    _ => throw new ArgumentException($"scale {sym.Name}: unsupported role {action.Role} on {action.Parameter}"),
                };
        }

        if (action.Role == ActionRole.Shift)
            throw new ArgumentException($"{sym.Kind} {sym.Name}: role Shift is only meaningful for translation ({action.Parameter})");
        int axis = NormalizeAxis(action, t);
        int unit = Math.Max(1, action.Unit);
        if (t.shape[axis] != (long)total * unit)
            throw new ArgumentException($"{sym.Kind} {sym.Name}: parameter {action.Parameter} has size {t.shape[axis]} along axis {action.Axis}, expected Blocks·Dim·Unit = {(long)total * unit}");
        if (unit > 1)
        {
            // Unit i spans `unit` consecutive entries: act on the axis split as [total, unit], the units first.
            var moved = t.movedim(new long[] { axis }, new long[] { 0 });
            var shape = moved.shape;
            var grouped = moved.reshape(total, -1);
            var acted = ApplyOne(sym, g, action with { Axis = 0, Unit = 1 }, grouped);
            return acted.reshape(shape).movedim(new long[] { 0 }, new long[] { axis });
        }

        switch (sym.Kind)
        {
            case SymmetryKind.Permutation:
            {
                var idx = new long[total];
                for (int b = 0; b < nb; b++)
                    for (int i = 0; i < n; i++)
                        idx[b * n + i] = b * n + g.Permutations![b][i];
                var index = torch.tensor(idx, ScalarType.Int64, t.device);
                return t.index_select(axis, index);
            }
            case SymmetryKind.Rescale:
            case SymmetryKind.Sign:
            {
                var per = sym.Kind == SymmetryKind.Rescale ? g.Scales! : g.Signs!;
                var factors = new double[total];
                for (int b = 0; b < nb; b++)
                    for (int i = 0; i < n; i++)
                    {
                        double c = per[b][i];
                        factors[b * n + i] = sym.Kind == SymmetryKind.Rescale && action.Role == ActionRole.Inverse ? 1.0 / c : c;
                    }
                var shape = Enumerable.Repeat(1L, (int)t.dim()).ToArray();
                shape[axis] = total;
                var f = torch.tensor(factors, ScalarType.Float64, t.device).reshape(shape).to(dtype);
                return t * f;
            }
            case SymmetryKind.Rotation:
            {
                var blocks = new Tensor[nb];
                for (int b = 0; b < nb; b++)
                {
                    var a = torch.tensor(g.Matrices![b], new long[] { n, n }, ScalarType.Float64);
                    blocks[b] = action.Role == ActionRole.Forward ? a : torch.linalg.inv(a).mT;
                }
                var m = torch.block_diag(blocks).to(dtype, t.device);
                var moved = t.movedim(new long[] { axis }, new long[] { 0 });
                var movedShape = moved.shape;
                var flat = moved.reshape(total, -1);
                var rotated = m.matmul(flat).reshape(movedShape);
                return rotated.movedim(new long[] { 0 }, new long[] { axis });
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(sym), sym.Kind, "unknown symmetry kind");
        }
    }

    private static int NormalizeAxis(ParamActionIR action, Tensor t)
    {
        int dims = (int)t.dim();
        int axis = action.Axis < 0 ? action.Axis + dims : action.Axis;
        if (axis < 0 || axis >= dims)
            throw new ArgumentException($"parameter {action.Parameter}: axis {action.Axis} out of range for a tensor of rank {dims}");
        return axis;
    }

    /// <summary>A standard normal deviate (Box–Muller) from <paramref name="rng"/>.</summary>
    public static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(); // (0, 1]
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>A Haar-random n×n orthogonal matrix, row-major: Q·diag(sign(diag R)) of the QR of a Gaussian matrix.</summary>
    public static double[] RandomOrthogonal(int n, Random rng)
    {
        using var scope = torch.NewDisposeScope();
        var gauss = torch.tensor(Enumerable.Range(0, n * n).Select(_ => Gaussian(rng)).ToArray(), new long[] { n, n }, ScalarType.Float64);
        var (q, r) = torch.linalg.qr(gauss);
        var d = r.diagonal().sign();
        d = torch.where(d == Scalars.IntZero, torch.ones_like(d), d);
        var fixedQ = q * d.unsqueeze(0);
        return fixedQ.contiguous().data<double>().ToArray();
    }

    /// <summary>A well-conditioned invertible n×n matrix Q₁ diag(exp(N(0, scale²))) Q₂, row-major.</summary>
    public static double[] RandomInvertible(int n, Random rng, double scale)
    {
        using var scope = torch.NewDisposeScope();
        var q1 = torch.tensor(RandomOrthogonal(n, rng), new long[] { n, n }, ScalarType.Float64);
        var q2 = torch.tensor(RandomOrthogonal(n, rng), new long[] { n, n }, ScalarType.Float64);
        var s = torch.tensor(Enumerable.Range(0, n).Select(_ => Math.Exp(scale * Gaussian(rng))).ToArray(), ScalarType.Float64);
        var a = (q1 * s.unsqueeze(0)).matmul(q2);
        return a.contiguous().data<double>().ToArray();
    }
}
