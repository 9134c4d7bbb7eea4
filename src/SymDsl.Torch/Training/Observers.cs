using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>
/// What an observer (e.g. the symmetry diagnostics) can see of a run. Everything here belongs to the trainer:
/// do not dispose it.
/// </summary>
public sealed class TrainingContext
{
    public required SymModel Model { get; init; }
    public required ModelIR ModelIR { get; init; }
    public required TrainIR Train { get; init; }
    public required Device Device { get; init; }
    public required string OutDir { get; init; }
    public required long Seed { get; init; }
    public required DataSet Data { get; init; }
    /// <summary>A fixed batch of (up to 256) training examples, every field, on <see cref="Device"/>; the same for the whole run (and after a resume).</summary>
    public required IReadOnlyDictionary<string, Tensor> ProbeBatch { get; init; }
    /// <summary>The training loss (scalar, differentiable) of the model on a batch of fields.</summary>
    public required Func<IReadOnlyDictionary<string, Tensor>, Tensor> Loss { get; init; }
    public required long TotalSteps { get; init; }
    public required int StepsPerEpoch { get; init; }
    /// <summary>Steps already done when this process started (non-zero after <c>--resume</c>).</summary>
    public required long StartStep { get; init; }
    /// <summary>The run's optimizer (its state: momentum, Adam's moments).</summary>
    public TorchSharp.Modules.OptimizerHelper? Optimizer { get; init; }
    /// <summary>The learning rate of the step that has just been taken.</summary>
    public double LearningRate { get; internal set; }
}

/// <summary>Something that happened at a step (e.g. a rank jump), listed in summary.json and the report.</summary>
public sealed record TrainEvent(long Step, string Kind, string Message, double? Value = null);

/// <summary>The summary being written at the end of a run. Observers may add keys and events.</summary>
public sealed class TrainSummary
{
    /// <summary>summary.json's keys (train_loss, test_loss, test_accuracy, wall_seconds, …), in insertion order.</summary>
    public Dictionary<string, object?> Values { get; } = new();
    public List<TrainEvent> Events { get; } = new();
}

/// <summary>
/// Hooks into a training run. <see cref="OnStep"/> runs after every optimizer step (step = number of steps done),
/// inside a dispose scope of its own (tensors kept across calls must be detached from it) with gradients enabled;
/// keys added to <paramref name="metrics"/> go to metrics.jsonl (a line is written for every step that gets keys),
/// TensorBoard and one plot per numeric key.
/// </summary>
public interface ITrainingObserver
{
    void OnStart(TrainingContext context) { }
    void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics);
    /// <summary>
    /// After the backward pass of step <paramref name="step"/> (1-based) and before its optimizer update, inside the step's
    /// dispose scope: the gradients are in the parameters' .grad. The trainer checks them right after this call.
    /// </summary>
    void OnGradients(TrainingContext context, long step) { }
    /// <summary>
    /// Whether this observer reads the parameters' .grad at step <paramref name="step"/> (1-based; in <see cref="OnGradients"/>
    /// or in <see cref="OnStep"/>, after the update). At steps where no observer does, the trainer may let the .grad of a
    /// syre/perturb tensor carry the optimizer's decay correction (g − λθ₀, <see cref="Lowering.SymModel.ZeroGradients"/>);
    /// where one does, .grad is the loss gradient exactly. The default is true: an observer that never reads .grad says false.
    /// </summary>
    bool ReadsGradients(long step) => true;
    /// <summary>
    /// Before step <paramref name="step"/> (1-based) computes its loss, inside the step's dispose scope, on the step's
    /// <paramref name="batch"/> (every field, on the device): an observer may move the parameters here (teleport).
    /// </summary>
    void OnBeforeStep(TrainingContext context, long step, IReadOnlyDictionary<string, Tensor> batch) { }
    void OnEnd(TrainingContext context, TrainSummary summary) { }
}

/// <summary>
/// Metrics of a step that an observer computes in the background (for example on a parameter snapshot on another core).
/// An observer's <see cref="ITrainingObserver.OnStep"/> may put one under any key of the step's metrics; the run's writers
/// (metrics.jsonl, TensorBoard, plots) replace that entry, in place, by the keys and values <see cref="Values"/> yields,
/// and write the step's line only once it has completed, lines always in step order. Every pending value is resolved
/// before a checkpoint is written and before the run ends, so a checkpoint and the files never disagree.
/// </summary>
public sealed class DeferredMetrics(Task<IReadOnlyList<KeyValuePair<string, object?>>> values)
{
    /// <summary>The keys and values, in order, once computed.</summary>
    public Task<IReadOnlyList<KeyValuePair<string, object?>>> Values { get; } = values;
}
