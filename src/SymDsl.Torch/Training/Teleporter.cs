using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Lowering.Layers;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>What one teleport did (<see cref="Teleporter.Teleport"/>).</summary>
/// <param name="Applied">The parameters were moved (false: no ascent step helped, or the loss check failed).</param>
/// <param name="GradNormBefore">‖∇L‖ over every effective parameter on the batch before the teleport (float64).</param>
/// <param name="GradNormAfter">The same after it (the parameters as stored, in the model's dtype, evaluated in float64); equal to
/// <paramref name="GradNormBefore"/> when nothing was applied.</param>
/// <param name="RelativeLossChange">|L(g·θ) − L(θ)| / max(|L(θ)|, 1e-12) of the stored parameters, in float64 (0 when nothing moved).</param>
/// <param name="AcceptedSteps">Ascent steps that increased the gradient norm.</param>
/// <param name="Skipped">Why a teleport that found a better point was not applied (the loss check), else null.</param>
public sealed record TeleportOutcome(bool Applied, double LossBefore, double GradNormBefore, double GradNormAfter, double RelativeLossChange, int AcceptedSteps, string? Skipped);

/// <summary>
/// Symmetry teleportation (Zhao, Dehmamy, Walters, Yu, NeurIPS 2022; ICLR 2024): <c>teleport G, … every N steps</c>. Before
/// the step that follows k·N completed steps (k = 0, 1, …), on that step's batch, the group element is parametrised near the
/// identity by its Lie algebra — rescale: g = exp(a) per unit (the inverse side exp(−a)); scale: c = exp(a); rotation as
/// GL(n): A = exp(X) per block (the inverse side exp(−Xᵀ) = A⁻ᵀ) — and <see cref="AscentSteps"/> normalised gradient-ascent
/// steps on ‖∇_θ L(g·θ)‖² over the algebra coordinates (autograd through differentiable versions of the
/// <see cref="ActionRole"/> actions) look for a point of the orbit with a larger gradient norm: a step of length η (Euclidean,
/// over all coordinates together) along the normalised gradient is taken when it increases the objective (then η doubles, up to <see cref="MaxStepLength"/>),
/// else it is not taken and η is halved; η starts at <see cref="InitialStepLength"/>. The ascent runs in float64 on float64 copies of the effective parameters,
/// with the model in <see cref="ForwardMode.Verify"/> (batch statistics, no dropout, running statistics untouched).
/// g is then applied to the effective parameters with <see cref="GroupActions.Apply"/> (and to buffers with
/// <see cref="GroupActions.ApplyToBuffers"/>), written back through each parameterization's <c>SetEffective</c> (syre's
/// stored P = θ + θ₀; induce's factors are re-split from the new P, balanced); the loss of the stored parameters on the batch
/// is compared in float64 with the loss before, and a relative change above <see cref="Tolerance"/> restores the old
/// parameters (the teleport is skipped and said so in metrics.jsonl and summary.json's events). The optimizer state
/// (momentum, Adam's moments) is kept as it is. Nothing here draws random numbers: a teleport is a function of the
/// parameters and the batch, so a resumed run teleports exactly as an uninterrupted one.
/// </summary>
public sealed class Teleporter : ITrainingObserver
{
    /// <summary>Gradient-ascent steps per teleport.</summary>
    public const int AscentSteps = 10;
    /// <summary>The first ascent step's length in the Lie algebra (Euclidean norm over all coordinates); doubled after a step
    /// that increased the objective, halved after one that did not (and was not taken).</summary>
    public const double InitialStepLength = 0.1;
    /// <summary>The longest ascent step (so that one teleport moves each coordinate by a bounded amount).</summary>
    public const double MaxStepLength = 0.1;
    /// <summary>The largest relative change of the batch loss a teleport may cause (float64 evaluation of the stored parameters).</summary>
    public const double Tolerance = 1e-6;

    readonly List<(TeleportIR Clause, SymmetryIR[] Groups)> _clauses = new();
    readonly List<(long Step, Dictionary<string, object?> Metrics)> _pending = new();
    int _applied, _skipped, _unchanged;

    /// <summary>The teleports of <paramref name="train"/>, with the symmetries of its block (<paramref name="model"/> = <see cref="ProgramIR.ModelFor"/>).</summary>
    public Teleporter(TrainIR train, ModelIR model)
    {
        foreach (var t in train.Teleports)
            _clauses.Add((t, t.Symmetries.Select(n => model.Symmetries.FirstOrDefault(s => s.Name == n)
                ?? throw new SymDsl.Diagnostics.SymDslException($"teleport names symmetry {n}, which train block '{train.Name}' does not have")).ToArray()));
    }

    /// <summary>The groups teleported before step <paramref name="step"/> (1-based): those of every clause with (step − 1) mod N = 0.</summary>
    public IReadOnlyList<SymmetryIR> GroupsAt(long step)
        => _clauses.Where(c => (step - 1) % c.Clause.Every == 0).SelectMany(c => c.Groups).DistinctBy(s => s.Name).ToList();

    public void OnBeforeStep(TrainingContext context, long step, IReadOnlyDictionary<string, Tensor> batch)
    {
        var groups = GroupsAt(step);
        if (groups.Count == 0) return;
        var o = Teleport(context.Model, groups, batch, context.Train.Loss);
        var m = new Dictionary<string, object?>
        {
            ["teleport_grad_norm_before"] = o.GradNormBefore,
            ["teleport_grad_norm_after"] = o.GradNormAfter,
            ["teleport_loss_change"] = o.RelativeLossChange,
        };
        if (o.Skipped is not null) { m["teleport_skipped"] = 1; _skipped++; }
        else if (o.Applied) _applied++;
        else _unchanged++;
        if (o.Skipped is not null) _events.Add(new TrainEvent(step, "teleport_skipped", $"teleport before step {step} skipped: {o.Skipped}", o.RelativeLossChange));
        _pending.Add((step, m));
    }

    readonly List<TrainEvent> _events = new();

    /// <summary>Teleports use their own gradients (autograd.grad), never .grad.</summary>
    public bool ReadsGradients(long step) => false;

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
    {
        foreach (var (s, m) in _pending)
            if (s == step) foreach (var (k, v) in m) metrics[k] = v;
        _pending.RemoveAll(p => p.Step <= step);
    }

    public void OnEnd(TrainingContext context, TrainSummary summary)
    {
        summary.Values["teleports_applied"] = _applied;
        summary.Values["teleports_skipped"] = _skipped;
        summary.Values["teleports_unchanged"] = _unchanged;
        summary.Events.AddRange(_events);
    }

    /// <summary>
    /// One teleport of <paramref name="model"/>'s effective parameters along <paramref name="groups"/> on
    /// <paramref name="batch"/> (see the class summary). Runs in a dispose scope of its own; leaves the model's mode as it was.
    /// </summary>
    public static TeleportOutcome Teleport(SymModel model, IReadOnlyList<SymmetryIR> groups, IReadOnlyDictionary<string, Tensor> batch, LossIR loss)
    {
        using var scope = NewDisposeScope();
        var mode = model.Mode;
        model.SetMode(ForwardMode.Verify);
        try
        {
            var stored = model.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            var theta = stored.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float64));

            Tensor LossAt(IReadOnlyDictionary<string, Tensor> p)
            {
                var output = model.Forward(batch, parameters: p)[loss.Output];
                var target = batch[loss.Target];
                if (target.is_floating_point()) target = target.to_type(output.dtype);
                return Trainer.LossOf(loss.Kind, output, target);
            }

            // Before: the loss and the gradient norm over every effective parameter, float64.
            var (lossBefore, normBefore) = LossAndGradNorm(LossAt, theta);

            // The ascent on the algebra coordinates.
            var coords = groups.Select(Zero).ToArray();
            var (f, grads) = Objective(LossAt, theta, groups, coords);
            var eta = InitialStepLength;
            var accepted = 0;
            for (var k = 0; k < AscentSteps; k++)
            {
                var gnorm = Math.Sqrt(grads.Sum(g => g.square().sum().item<double>()));
                if (!(gnorm > 0) || !double.IsFinite(gnorm)) break;
                using var stepScope = NewDisposeScope();
                var candidate = coords.Select((c, i) => (c.detach() + grads[i] * (eta / gnorm)).requires_grad_(true)).ToArray();
                var (fc, gc) = Objective(LossAt, theta, groups, candidate);
                if (double.IsFinite(fc) && fc > f)
                {
                    coords = candidate.Select(c => c.MoveToOuterDisposeScope()).ToArray();
                    grads = gc.Select(g => g.MoveToOuterDisposeScope()).ToArray();
                    f = fc;
                    accepted++;
                    eta = Math.Min(2 * eta, MaxStepLength);
                }
                else eta /= 2;
            }
            if (accepted == 0) return new TeleportOutcome(false, lossBefore, normBefore, normBefore, 0, 0, null);

            // Apply g to the stored (model dtype) effective parameters and to the buffers, exactly as the group acts. Only the
            // parameters acted on are written; every raw tensor is kept first so that a failed check restores it bit for bit.
            var raw = model.named_parameters().Select(np => (Live: np.parameter, Saved: np.parameter.detach().clone())).ToList();
            var liveBuffers = model.Buffers();
            var oldBuffers = liveBuffers.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            var movedNames = groups.SelectMany(g => g.Parameters).ToHashSet();
            var moved = new Dictionary<string, Tensor>(stored);
            var buffers = new Dictionary<string, Tensor>(oldBuffers);
            for (var i = 0; i < groups.Count; i++)
            {
                var g = Element(groups[i], coords[i]);
                moved = GroupActions.Apply(groups[i], g, moved);
                if (groups[i].BufferActions.Count > 0) buffers = GroupActions.ApplyToBuffers(groups[i], g, buffers);
            }
            model.SetEffectiveParameters(moved.Where(kv => movedNames.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
            if (groups.Any(g => g.BufferActions.Count > 0)) model.SetBuffers(buffers);

            // The check: the loss of the parameters as now stored, in float64, against the loss before.
            var now = model.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to_type(ScalarType.Float64));
            var (lossAfter, normAfter) = LossAndGradNorm(LossAt, now);
            var change = Math.Abs(lossAfter - lossBefore) / Math.Max(Math.Abs(lossBefore), 1e-12);
            if (!(change <= Tolerance))
            {
                using (no_grad())
                    foreach (var (live, saved) in raw) live.copy_(saved);
                if (groups.Any(g => g.BufferActions.Count > 0)) model.SetBuffers(oldBuffers);
                var why = $"the loss on the batch changed by {change:G3} relative ({lossBefore:G9} → {lossAfter:G9}), more than {Tolerance:G1}; the parameters were restored";
                return new TeleportOutcome(false, lossBefore, normBefore, normBefore, change, accepted, why);
            }
            return new TeleportOutcome(true, lossBefore, normBefore, normAfter, change, accepted, null);
        }
        finally
        {
            if (mode == ForwardMode.Eval) model.eval(); else model.SetMode(mode);
        }
    }

    /// <summary>The loss and ‖∇L‖ (over every parameter given) at <paramref name="parameters"/>.</summary>
    static (double Loss, double GradNorm) LossAndGradNorm(Func<IReadOnlyDictionary<string, Tensor>, Tensor> lossAt, Dictionary<string, Tensor> parameters)
    {
        using var scope = NewDisposeScope();
        using var _ = enable_grad();
        var leaves = parameters.ToDictionary(kv => kv.Key, kv => kv.Value.detach().requires_grad_(true));
        var l = lossAt(leaves);
        var names = leaves.Keys.ToList();
        var grads = autograd.grad([l], names.Select(n => leaves[n]).ToList(), [ones_like(l)], allow_unused: true);
        var sq = grads.Where(g => g is not null && !g.IsInvalid).Aggregate(0.0, (a, g) => a + g.square().sum().item<double>());
        return (l.item<double>(), Math.Sqrt(sq));
    }

    /// <summary>‖∇_θ L(g(coords)·θ)‖² and its gradient with respect to the coordinates.</summary>
    static (double Value, Tensor[] Grads) Objective(Func<IReadOnlyDictionary<string, Tensor>, Tensor> lossAt, Dictionary<string, Tensor> theta,
        IReadOnlyList<SymmetryIR> groups, Tensor[] coords)
    {
        using var scope = NewDisposeScope();
        using var _ = enable_grad();
        var acted = new Dictionary<string, Tensor>(theta);
        for (var i = 0; i < groups.Count; i++)
            foreach (var byParameter in groups[i].Actions.GroupBy(a => a.Parameter))
            {
                var t = acted[byParameter.Key];
                foreach (var action in byParameter) t = Act(groups[i], coords[i], action, t);
                acted[byParameter.Key] = t;
            }
        // The gradient at the moved point with respect to the moved parameters (those acted on: the others' gradients do not
        // depend on g), kept in the graph so that its norm can be differentiated with respect to the coordinates.
        var movedNames = groups.SelectMany(s => s.Parameters).Distinct().ToList();
        var points = acted.ToDictionary(kv => kv.Key, kv => kv.Value);
        var l = lossAt(points);
        var g = autograd.grad([l], movedNames.Select(n => points[n]).ToList(), [ones_like(l)], retain_graph: true, create_graph: true, allow_unused: true);
        Tensor objective = zeros(1, dtype: ScalarType.Float64, device: l.device).sum();
        foreach (var gi in g) if (gi is not null && !gi.IsInvalid) objective = objective + gi.square().sum();
        var value = objective.item<double>();
        var dc = autograd.grad([objective], coords, [ones_like(objective)], allow_unused: true);
        var result = dc.Select((d, i) => (d is null || d.IsInvalid ? zeros_like(coords[i]) : d.detach()).MoveToOuterDisposeScope()).ToArray();
        return (value, result);
    }

    /// <summary>The identity's coordinates: zeros of the algebra's shape (float64, requiring gradients).</summary>
    static Tensor Zero(SymmetryIR s)
    {
        int n = s.Dim, nb = Math.Max(1, s.Blocks);
        return (s.Kind switch
        {
            SymmetryKind.Rescale => zeros(nb * n, dtype: ScalarType.Float64),
            SymmetryKind.Scale => zeros(1, dtype: ScalarType.Float64),
            SymmetryKind.Rotation => zeros(nb, n, n, dtype: ScalarType.Float64),
            _ => throw new ArgumentException($"teleport cannot move along {s.Kind} {s.Name}"),
        }).requires_grad_(true);
    }

    /// <summary>The group element exp(coords) as a <see cref="GroupElement"/>.</summary>
    static GroupElement Element(SymmetryIR s, Tensor coords)
    {
        using var scope = NewDisposeScope();
        int n = s.Dim, nb = Math.Max(1, s.Blocks);
        var c = coords.detach().cpu();
        switch (s.Kind)
        {
            case SymmetryKind.Rescale:
            {
                var e = c.exp().data<double>().ToArray();
                return new GroupElement(s.Kind, n, nb) { Scales = Enumerable.Range(0, nb).Select(b => e[(b * n)..((b + 1) * n)]).ToArray() };
            }
            case SymmetryKind.Scale:
                return new GroupElement(s.Kind, n, nb) { Factor = Math.Exp(c.item<double>()) };
            case SymmetryKind.Rotation:
            {
                var a = linalg.matrix_exp(c).contiguous();
                return new GroupElement(s.Kind, n, nb) { Matrices = Enumerable.Range(0, nb).Select(b => a[b].contiguous().data<double>().ToArray()).ToArray() };
            }
            default: throw new ArgumentException($"teleport cannot move along {s.Kind} {s.Name}");
        }
    }

    /// <summary>A differentiable <see cref="GroupActions.ApplyOne"/>: g = exp(coords) acting on <paramref name="t"/> for one action.</summary>
    static Tensor Act(SymmetryIR s, Tensor coords, ParamActionIR action, Tensor t)
    {
        var sign = action.Role == ActionRole.Inverse ? -1.0 : 1.0;
        if (s.Kind == SymmetryKind.Scale) return t * (coords * sign).exp().to(t.device);
        int n = s.Dim, nb = Math.Max(1, s.Blocks), dims = (int)t.dim();
        var axis = action.Axis < 0 ? action.Axis + dims : action.Axis;
        var moved = t.movedim([axis], [0]);
        var shape = moved.shape;
        Tensor acted;
        if (s.Kind == SymmetryKind.Rescale)
            // Unit i spans Unit consecutive entries of the axis: one factor per unit, on the axis split as [units, rest].
            acted = (moved.reshape(nb * n, -1) * (coords * sign).exp().to(t.device).unsqueeze(1)).reshape(shape);
        else
        {
            // Forward: A = exp(X) per block; Inverse: A⁻ᵀ = exp(−Xᵀ).
            var x = action.Role == ActionRole.Inverse ? -coords.mT : coords;
            var a = linalg.matrix_exp(x).to(t.device);
            acted = a.matmul(moved.reshape(nb, n, -1)).reshape(shape);
        }
        return acted.movedim([0], [axis]);
    }
}
