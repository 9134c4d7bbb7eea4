using System.Globalization;
using System.Reflection;
using SymDsl.Diagnostics;
using SymDsl.Torch.Lowering;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>
/// Finds what went non-finite in a training run (the loss, a gradient, a parameter, an optimizer state tensor) and words
/// the one-line error that stops it. The checks are cheap when all is well: one reduction per tensor and one host sync
/// for the whole group; only when that fused check fails are the tensors examined one by one to name the culprit.
/// </summary>
public static class Divergence
{
    /// <summary>
    /// The first tensor of <paramref name="named"/> holding a NaN or an infinity, as (name, "NaN" or "infinite"); null when
    /// all are finite. One host sync when every tensor is finite.
    /// </summary>
    public static (string Name, string Kind)? FirstNonFinite(IReadOnlyList<(string Name, Tensor Tensor)> named)
    {
        if (named.Count == 0) return null;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Fused check: the sum of the per-tensor sums is finite when every entry is (a finite sum can overflow; then
        // the precise pass below finds nothing and the tensors count as finite). n + 2 kernels, one host sync.
        var sums = new List<Tensor>(named.Count);
        foreach (var (_, t) in named)
            if (t.is_floating_point()) sums.Add(t.sum());
        if (sums.Count == 0) return null;
        var total = sums.Count == 1 ? sums[0] : stack(sums.Select(s => s.dtype == sums[0].dtype ? s : s.to_type(sums[0].dtype))).sum();
        if (double.IsFinite(total.dtype == ScalarType.Float32 ? total.item<float>() : total.to_type(ScalarType.Float64).item<double>())) return null;
        foreach (var (name, t) in named)
        {
            if (!t.is_floating_point() || t.isfinite().all().item<bool>()) continue;
            return (name, t.isnan().any().item<bool>() ? "NaN" : "infinite");
        }
        return null;
    }

    /// <summary>The gradients of the model's trainable tensors that exist, by parameter name.</summary>
    public static List<(string Name, Tensor Tensor)> Gradients(SymModel model) => Gradients(model.named_parameters().ToList());

    /// <summary>
    /// The gradients that exist of <paramref name="parameters"/> (a run's parameter list, enumerated once: TorchSharp's
    /// named_parameters walks the module tree and builds every name again, a cost per step that grows with the tree,
    /// which reparameterised models such as syre's deepen).
    /// </summary>
    public static List<(string Name, Tensor Tensor)> Gradients(IReadOnlyList<(string Name, Parameter Parameter)> parameters)
    {
        var list = new List<(string, Tensor)>(parameters.Count);
        foreach (var (name, p) in parameters)
            if (p.grad is { } g && !g.IsInvalid) list.Add((name, g));
        return list;
    }

    public static List<(string Name, Tensor Tensor)> Parameters(SymModel model) =>
        model.named_parameters().Select(np => (np.name, (Tensor)np.parameter)).ToList();

    /// <summary>
    /// Every tensor of the optimizer's per-parameter state (momentum buffers, Adam's moments), named like
    /// "exp_avg_sq of fc1.weight". TorchSharp keeps these as public tensor fields of each optimizer's State class, in the
    /// order of the parameter groups' parameters.
    /// </summary>
    public static List<(string Name, Tensor Tensor)> OptimizerState(SymModel model, OptimizerHelper optimizer)
    {
        var names = model.named_parameters().ToDictionary(np => np.parameter.Handle, np => np.name);
        var parameters = optimizer.parameters().ToList(); // the parameter groups' parameters, in state_dict order
        var states = optimizer.state_dict().State;
        var list = new List<(string, Tensor)>();
        for (var i = 0; i < states.Count && i < parameters.Count; i++)
        {
            var owner = names.TryGetValue(parameters[i].Handle, out var n) ? n : $"parameter {i}";
            foreach (var field in StateFields(states[i].GetType()))
                if (field.GetValue(states[i]) is Tensor t && !t.IsInvalid) list.Add(($"{field.Name} of {owner}", t));
        }
        return list;
    }

    static readonly Dictionary<Type, FieldInfo[]> Fields = new();

    static FieldInfo[] StateFields(Type type)
    {
        lock (Fields)
        {
            if (!Fields.TryGetValue(type, out var fields))
                Fields[type] = fields = type.GetFields(BindingFlags.Public | BindingFlags.Instance).Where(f => f.FieldType == typeof(Tensor)).ToArray();
            return fields;
        }
    }

    /// <summary>
    /// Looks for the non-finite tensor behind a divergence: the gradients, then the parameters, then the optimizer
    /// state. Returns a description ("the gradient of fc1.weight became NaN") or null when everything is finite.
    /// </summary>
    public static string? Diagnose(SymModel model, OptimizerHelper? optimizer)
    {
        if (FirstNonFinite(Gradients(model)) is { } g) return $"the gradient of {g.Name} became {g.Kind}";
        return DiagnoseState(model, optimizer);
    }

    /// <summary>The parameters, then the optimizer state (what a checkpoint would save); null when all is finite.</summary>
    public static string? DiagnoseState(SymModel model, OptimizerHelper? optimizer)
    {
        if (FirstNonFinite(Parameters(model)) is { } p) return $"the parameter {p.Name} became {p.Kind}";
        if (optimizer is not null && FirstNonFinite(OptimizerState(model, optimizer)) is { } s) return $"the optimizer state {s.Name} became {s.Kind}";
        return null;
    }

    /// <summary>"NaN", "inf" or "-inf" for a non-finite loss value.</summary>
    public static string Kind(double value) =>
        double.IsNaN(value) ? "NaN" : value > 0 ? "inf" : "-inf";

    /// <summary>
    /// The error that ends a diverged run: "{what} at step N; training stopped, the last good checkpoint (step K) is kept
    /// in PATH" (or "no checkpoint was written").
    /// </summary>
    public static SymDslException Stopped(string what, long step, string checkpointPath, long? lastCheckpointStep, Exception? inner = null) =>
        new($"{what} at step {step.ToString(CultureInfo.InvariantCulture)}; training stopped"
            + (lastCheckpointStep is { } k ? $", the last good checkpoint (step {k}) is kept in {checkpointPath}" : " (no checkpoint was written)"), inner);
}
