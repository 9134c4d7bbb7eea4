using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>
/// Per-unit views of the parameters a unit-wise symmetry acts on. Unit i's "in" side is the slice i of every
/// <see cref="ActionRole.Forward"/> parameter along its axis (rows of fc1.weight, entries of fc1.bias); its "out" side the
/// slice i of every <see cref="ActionRole.Inverse"/> parameter (columns of fc2.weight). Units are numbered 0 … Blocks·Dim−1.
/// </summary>
public static class UnitNorms
{
    /// <summary>Per unit: ‖w_in,i‖² + b_i² (rows of wIn [n, in], entries of bIn [n]) and ‖w_out,i‖² (columns of wOut [out, n]).</summary>
    public static (double[] InSquared, double[] OutSquared) Squared(Tensor wIn, Tensor? bIn, Tensor wOut)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var w = TensorMath.F64(wIn);
        var inSq = SquaredAlong(w, 0);
        if (bIn is not null) inSq = inSq + TensorMath.F64(bIn).square();
        var v = TensorMath.F64(wOut);
        if (v.dim() != 2) throw new ArgumentException("wOut must be [out, n]");
        var outSq = SquaredAlong(v, 1);
        if (inSq.shape[0] != outSq.shape[0])
            throw new ArgumentException($"wIn has {inSq.shape[0]} units, wOut {outSq.shape[0]}");
        return Split(torch.stack(new[] { inSq, outSq }), (int)inSq.shape[0]);
    }

    /// <summary>Per-unit squared norms of the Forward (in) and Inverse (out) slices of <paramref name="sym"/>'s parameters.</summary>
    /// <remarks>
    /// One squared-sum per parameter (over every axis but the unit axis, no slice copies) and one transfer of the [2, n]
    /// result; equal to the sums over <see cref="Slices"/> up to the order of the float64 additions.
    /// </remarks>
    public static (double[] InSquared, double[] OutSquared) FromSymmetry(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        int n = sym.Dim * Math.Max(1, sym.Blocks);
        Tensor? inSq = null, outSq = null;
        foreach (var a in sym.Actions)
        {
            if (a.Role is not (ActionRole.Forward or ActionRole.Inverse)) continue;
            var t = TensorMath.F64(parameters[a.Parameter]);
            int axis = a.Axis < 0 ? a.Axis + (int)t.dim() : a.Axis;
            long entries = (long)n * Math.Max(1, a.Unit);
            if (axis < 0 || axis >= t.dim() || t.shape[axis] != entries)
                throw new ArgumentException($"{sym.Name}: {a.Parameter} axis {a.Axis} does not have {n} units");
            var sq = SquaredAlong(t, axis);
            if (a.Unit > 1) sq = sq.reshape(n, a.Unit).sum(new long[] { 1 }); // unit i is entries i·Unit … (i+1)·Unit − 1
            if (a.Role == ActionRole.Forward) inSq = inSq is null ? sq : inSq + sq;
            else outSq = outSq is null ? sq : outSq + sq;
        }
        var zeros = inSq is null || outSq is null ? torch.zeros(n, ScalarType.Float64) : null;
        return Split(torch.stack(new[] { inSq ?? zeros!, outSq ?? zeros! }), n);
    }

    /// <summary>Σ t² over every axis but <paramref name="axis"/>: a vector of length t.shape[axis].</summary>
    static Tensor SquaredAlong(Tensor t, int axis)
    {
        var sq = t.square();
        if (t.dim() <= 1) return sq.reshape(-1);
        var others = Enumerable.Range(0, (int)t.dim()).Where(d => d != axis).Select(d => (long)d).ToArray();
        return sq.sum(others);
    }

    /// <summary>A [2, n] float64 tensor as two arrays, read in one transfer.</summary>
    static (double[], double[]) Split(Tensor both, int n)
    {
        var flat = TensorMath.ToArray(both);
        return (flat.AsSpan(0, n).ToArray(), flat.AsSpan(n, n).ToArray());
    }

    /// <summary>
    /// The per-unit slices of all parameters with the given role, concatenated: a [Blocks·Dim, k] float64 matrix whose row i
    /// holds everything of unit i on that side (null when no parameter has that role). Owned by the caller's dispose scope.
    /// </summary>
    public static Tensor? Slices(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters, ActionRole role)
    {
        int n = sym.Dim * Math.Max(1, sym.Blocks);
        var parts = new List<Tensor>();
        foreach (var a in sym.Actions.Where(a => a.Role == role))
        {
            var t = TensorMath.F64(parameters[a.Parameter]);
            int axis = a.Axis < 0 ? a.Axis + (int)t.dim() : a.Axis;
            long entries = (long)n * Math.Max(1, a.Unit);
            if (axis < 0 || axis >= t.dim() || t.shape[axis] != entries)
                throw new ArgumentException($"{sym.Name}: {a.Parameter} axis {a.Axis} does not have {n} units");
            // Unit i is entries i·Unit … (i+1)·Unit − 1 along the axis: its slice is those rows, flattened.
            parts.Add(t.movedim(new long[] { axis }, new long[] { 0 }).reshape(n, -1));
        }
        return parts.Count == 0 ? null : torch.cat(parts, 1);
    }

    /// <summary>Per unit: the in-side slices followed by the out-side slices (the vector <see cref="Duplicates"/> compares).</summary>
    public static Tensor UnitVectors(SymmetryIR sym, IReadOnlyDictionary<string, Tensor> parameters)
    {
        var inM = Slices(sym, parameters, ActionRole.Forward);
        var outM = Slices(sym, parameters, ActionRole.Inverse);
        if (inM is null && outM is null) throw new ArgumentException($"{sym.Name} has no unit-wise actions");
        return inM is null ? outM! : outM is null ? inM : torch.cat(new[] { inM, outM }, 1);
    }
}
