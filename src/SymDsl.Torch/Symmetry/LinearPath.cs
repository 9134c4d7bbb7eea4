using TorchSharp;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Runtime;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Torch.Symmetry;

/// <summary>One point of a linear path θ(t) = (1−t)θA + tθB: the loss and (for class labels) the accuracy at t.</summary>
public sealed record PathPoint(double T, double Loss, double? Accuracy);

/// <summary>
/// The loss barrier max_t L(θ(t)) − ((1−t)L(θA) + tL(θB)) and the accuracy barrier max_t ((1−t)acc(θA) + t·acc(θB)) − acc(θ(t))
/// of a curve (Frankle et al. 2020; Ainsworth et al. 2023), over the curve's points.
/// </summary>
public sealed record PathBarrier(double Loss, double? Accuracy)
{
    public static PathBarrier Of(IReadOnlyList<PathPoint> curve)
    {
        var a = curve[0];
        var b = curve[^1];
        double loss = curve.Max(p => p.Loss - ((1 - p.T) * a.Loss + p.T * b.Loss));
        double? acc = a.Accuracy is { } aa && b.Accuracy is { } ba
            ? curve.Max(p => (1 - p.T) * aa + p.T * ba - p.Accuracy!.Value)
            : null;
        return new PathBarrier(loss, acc);
    }
}

/// <summary>
/// Evaluation of one model IR at given effective parameters and buffers on a split of a train block's data (float64, eval
/// mode: BatchNorm reads the buffers given), for loss barriers along linear paths between two runs, and the probe inputs
/// alignment and REPAIR read. The data are loaded with the seed's split, as the runs' trainer did.
/// </summary>
public sealed class PathEvaluator : IDisposable
{
    readonly ModelIR _model;
    readonly TrainIR _train;
    readonly DataSet _data;
    readonly Dictionary<string, Tensor> _split = new();
    readonly SymModel _scratch;
    readonly int? _classes;

    /// <summary>What is evaluated: "test split", "training split" (the data have no test split), or "test split, rows held out from both runs".</summary>
    public string Split { get; }
    public long Count { get; }

    /// <summary>
    /// <paramref name="seed"/>: run A's seed (its split is loaded); <paramref name="otherSeed"/>: run B's, when it differs —
    /// the data are split by the seed, so A's test rows that B trained on (same values in B's training split) are left
    /// out: the examples evaluated are held out from both runs (<see cref="Split"/> says so).
    /// </summary>
    public PathEvaluator(ModelIR model, TrainIR train, long seed, long? otherSeed = null)
    {
        _model = model;
        _train = train;
        _data = DataSources.Load(train.Data, seed);
        var source = _data.TestCount > 0 ? _data.Test : _data.Train;
        Split = _data.TestCount > 0 ? "test split" : "training split";
        if (_data.TestCount > 0 && otherSeed is { } other && other != seed)
        {
            using var otherData = DataSources.Load(train.Data, other);
            var seen = RowKeys(otherData.Train).ToHashSet();
            var keep = RowKeys(source).Select((key, i) => (key, i)).Where(r => !seen.Contains(r.key)).Select(r => (long)r.i).ToArray();
            if (keep.Length > 0 && keep.Length < _data.TestCount)
            {
                using var index = tensor(keep, ScalarType.Int64);
                source = source.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, index));
                Split = "test split, rows held out from both runs";
            }
        }
        foreach (var input in model.Inputs)
        {
            var fieldName = train.FieldOf(input.Name);
            if (!source.TryGetValue(fieldName, out var field))
                throw new SymDslException($"data {train.Data.Kind} has no field '{fieldName}' for input {input.Name}");
            var n = field.shape[0];
            _split[input.Name] = field.reshape([n, .. input.Shape.Select(d => (long)d)])
                .to_type(input.Type == ElementType.Int64 ? ScalarType.Int64 : ScalarType.Float64).DetachFromDisposeScope();
        }
        if (!source.TryGetValue(train.Loss.Target, out var target))
            throw new SymDslException($"data {train.Data.Kind} has no field '{train.Loss.Target}' for the loss target");
        var loss = Vocabulary.Losses.Find(train.Loss.Kind) ?? throw new SymDslException($"unknown loss {train.Loss.Kind}");
        _split[train.Loss.Target] = (loss.NeedsLabels ? target.to_type(ScalarType.Int64) : target.to_type(ScalarType.Float64)).DetachFromDisposeScope();
        if (loss.NeedsLabels) _classes = model.Node(model.Outputs.First(o => o.Name == train.Loss.Output).Node).Shape[^1];
        Count = _split[train.Loss.Target].shape[0];
        _scratch = new SymModel(model);
        _scratch.to(ScalarType.Float64);
        _scratch.eval();
    }

    /// <summary>One key per row of <paramref name="fields"/>: the row's bytes in every field (in name order), as text.</summary>
    static IEnumerable<string> RowKeys(Dictionary<string, Tensor> fields)
    {
        var n = fields.Values.First().shape[0];
        var bytes = fields.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.cpu().contiguous().bytes.ToArray()).ToList();
        for (long i = 0; i < n; i++)
        {
            var sb = new System.Text.StringBuilder();
            foreach (var b in bytes)
            {
                long width = b.Length / n;
                sb.Append(Convert.ToBase64String(b, (int)(i * width), (int)width)).Append('|');
            }
            yield return sb.ToString();
        }
    }

    /// <summary>The first <paramref name="count"/> examples of the split, as model inputs (views; do not dispose).</summary>
    public Dictionary<string, Tensor> Inputs(int count) =>
        _model.Inputs.ToDictionary(i => i.Name, i => _split[i.Name].narrow(0, 0, Math.Min(count, Count)));

    /// <summary>Mean loss (and accuracy) over the split at <paramref name="parameters"/> and <paramref name="buffers"/>: the
    /// trainer's metrics (<see cref="Evaluation.Score"/>) on the float64 scratch model.</summary>
    public (double Loss, double? Accuracy) Evaluate(IReadOnlyDictionary<string, Tensor> parameters, IReadOnlyDictionary<string, Tensor>? buffers)
    {
        using (no_grad()) Set(parameters, buffers);
        var scores = Evaluation.Score(_scratch, _train, _split, _classes);
        return (scores.Loss, scores.Accuracy);
    }

    /// <summary>The model's outputs on <paramref name="inputs"/> at the given parameters and buffers (float64; the caller's scope owns them).</summary>
    public Dictionary<string, Tensor> Outputs(IReadOnlyDictionary<string, Tensor> parameters, IReadOnlyDictionary<string, Tensor>? buffers,
        IReadOnlyDictionary<string, Tensor> inputs, ISet<string>? sites = null, IDictionary<string, Tensor>? captured = null)
    {
        using var native = NativeSection.Enter();
        using var _ = no_grad();
        Set(parameters, buffers);
        return _scratch.Forward(inputs, sites, captured).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    void Set(IReadOnlyDictionary<string, Tensor> parameters, IReadOnlyDictionary<string, Tensor>? buffers)
    {
        _scratch.SetEffectiveParameters(parameters.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64)));
        if (buffers is not null && buffers.Count > 0)
        {
            var live = _scratch.Buffers();
            _scratch.SetBuffers(buffers.ToDictionary(kv => kv.Key, kv => kv.Value.to(live[kv.Key].dtype)));
        }
    }

    /// <summary>
    /// The curve along θ(t) = (1−t)θA + tθB at <paramref name="points"/> evenly spaced t in [0, 1]: effective parameters and
    /// floating-point buffers interpolated alike (interpolated BatchNorm running statistics are stale: they are not the
    /// statistics of the interpolated network — REPAIR or a reset of the statistics is the known fix).
    /// </summary>
    public List<PathPoint> Curve(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b,
        IReadOnlyDictionary<string, Tensor> buffersA, IReadOnlyDictionary<string, Tensor> buffersB, int points)
    {
        var curve = new List<PathPoint>();
        for (int k = 0; k < points; k++)
        {
            using var scope = NewDisposeScope();
            double t = points == 1 ? 0 : (double)k / (points - 1);
            var (loss, acc) = Evaluate(Interpolate(a, b, t), Interpolate(buffersA, buffersB, t));
            curve.Add(new PathPoint(t, loss, acc));
        }
        return curve;
    }

    /// <summary>(1−t)·a + t·b per entry (float64) for floating-point tensors; integer tensors (a BatchNorm's batch count) from a.</summary>
    public static Dictionary<string, Tensor> Interpolate(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, double t) =>
        a.ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point()
            ? kv.Value.to(ScalarType.Float64) * (1 - t) + b[kv.Key].to(ScalarType.Float64) * t
            : kv.Value.clone());

    public void Dispose()
    {
        _scratch.Dispose();
        foreach (var t in _split.Values) t.Dispose();
        _data.Dispose();
    }
}

/// <summary>
/// REPAIR (Jordan, Sedghi, Saukh, Entezari &amp; Neyshabur 2023): after merging, each merged unit's pre-activation
/// statistics are reset to the interpolation of A's and (aligned) B's: z' = (z − μ_m)·σ_t/σ_m + μ_t with
/// μ_t = (1−α)μ_A + αμ_B, σ_t = (1−α)σ_A + ασ_B, folded into the producing layer's weight and bias (W' = W·σ_t/σ_m,
/// b' = (b − μ_m)·σ_t/σ_m + μ_t), layer by layer in graph order on probe inputs. Covered: a permutation space whose site is
/// <c>relu(L(x))</c> (or another unit-wise activation) with L a Linear, Conv1d or Conv2d layer with a bias. Others are listed as not covered.
/// </summary>
public static class Repair
{
    /// <summary>The covered spaces: (space name, pre-activation node id, layer).</summary>
    public static List<(string Space, int Node, LayerIR Layer)> Sites(ModelIR model, IReadOnlyList<SymmetryIR> spaces)
    {
        var list = new List<(string, int, LayerIR)>();
        foreach (var space in spaces)
        {
            if (model.Site(space.Target) is not { } node || node.Op != OpKind.Activation || node.Inputs.Count != 1) continue;
            if (node.Attr("fn") is not ("relu" or "leaky_relu" or "gelu" or "tanh" or "sigmoid" or "identity")) continue;
            var pre = model.Node(node.Inputs[0]);
            if (pre.Op != OpKind.Layer) continue;
            var layer = model.Layer(pre.Attr("layer"));
            if (layer.Kind.ToString() is not ("Linear" or "Conv1d" or "Conv2d") || !layer.HasParameter("bias")) continue;
            if (list.Any(l => l.Item2 == pre.Id)) continue;
            list.Add((space.Name, pre.Id, layer));
        }
        return list;
    }

    /// <summary>
    /// The merged parameters with REPAIR applied at every covered site (new dictionary; the caller's scope owns the
    /// tensors). <paramref name="a"/>/<paramref name="b"/>: A's and aligned B's effective parameters (and buffers).
    /// </summary>
    public static Dictionary<string, Tensor> Apply(ModelIR model, IReadOnlyList<SymmetryIR> spaces,
        IReadOnlyDictionary<string, Tensor> merged, IReadOnlyDictionary<string, Tensor> mergedBuffers,
        IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> buffersA,
        IReadOnlyDictionary<string, Tensor> b, IReadOnlyDictionary<string, Tensor> buffersB,
        IReadOnlyDictionary<string, Tensor> probe, double alpha)
    {
        var sites = Sites(model, spaces).OrderBy(s => s.Node).ToList();
        var result = merged.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64));
        if (sites.Count == 0) return result;
        // The pre-activations get site names so that Forward captures them.
        var names = sites.ToDictionary(s => s.Node, s => $"\0repair:{s.Node}");
        var named = model with { Nodes = model.Nodes.Select(n => names.TryGetValue(n.Id, out var name) ? n with { Site = name } : n).ToList() };
        var axes = UnitAxes.Of(model);
        using var scratch = new SymModel(named);
        scratch.to(ScalarType.Float64);
        scratch.eval();
        using var _ = no_grad();
        using var native = NativeSection.Enter();

        Dictionary<string, Tensor> Capture(IReadOnlyDictionary<string, Tensor> p, IReadOnlyDictionary<string, Tensor> buf)
        {
            scratch.SetEffectiveParameters(p.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64)));
            if (buf.Count > 0) scratch.SetBuffers(buf.ToDictionary(kv => kv.Key, kv => kv.Value.to(scratch.Buffers()[kv.Key].dtype)));
            var captured = new Dictionary<string, Tensor>();
            scratch.Forward(probe, names.Values.ToHashSet(), captured);
            return captured;
        }
        (Tensor Mean, Tensor Std) Stats(Tensor z, int node)
        {
            int axis = axes[node] + 1; // batch first
            var rows = z.movedim([axis], [-1]).reshape(-1, z.shape[axis]);
            return (rows.mean([0]), rows.std(0, unbiased: false));
        }
        var capA = Capture(a, buffersA);
        var capB = Capture(b, buffersB);
        foreach (var (_, node, layer) in sites)
        {
            var (ma, sa) = Stats(capA[names[node]], node);
            var (mb, sb) = Stats(capB[names[node]], node);
            var mt = ma * (1 - alpha) + mb * alpha;
            var st = sa * (1 - alpha) + sb * alpha;
            var capM = Capture(result, mergedBuffers); // with the sites before this one already repaired
            var (mm, sm) = Stats(capM[names[node]], node);
            using var eps = 1e-12.ToScalar();
            var ratio = st / sm.clamp_min(eps);
            var w = result[$"{layer.Name}.weight"];
            var shape = Enumerable.Repeat(1L, (int)w.dim()).ToArray();
            shape[0] = -1; // the output units: rows of a Linear weight, output channels of a conv kernel
            result[$"{layer.Name}.weight"] = w * ratio.reshape(shape);
            result[$"{layer.Name}.bias"] = (result[$"{layer.Name}.bias"] - mm) * ratio + mt;
        }
        return result;
    }
}
