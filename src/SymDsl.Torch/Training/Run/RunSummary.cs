using SymDsl.IR;
using System.Diagnostics;
using SymDsl.Torch.Lowering;

namespace SymDsl.Torch.Training;

/// <summary>
/// The run's final evaluation (train and test split, evaluation mode) and summary.json's own keys (train_loss, test_loss,
/// test_accuracy, wall_seconds, …). The first observer: its <see cref="OnEnd"/> fills the summary before the others add
/// their keys and events.
/// </summary>
sealed class RunSummary(RunSetup run, TrainIR train, RunClock clock) : ITrainingObserver
{
    /// <summary>What the run reports, once <see cref="OnEnd"/> has run.</summary>
    public TrainResult? Result { get; private set; }

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics) { }

    public void OnEnd(TrainingContext context, TrainSummary summary)
    {
        var model = run.Model;
        model.eval();
        var trainLoss = Evaluation.Score(model, train, run.TrainFields, run.Classes).Loss;
        var test = run.Data.TestCount > 0 ? Evaluation.Score(model, train, run.TestFields, run.Classes) : null;
        var (testLoss, testAcc) = test is null ? (double.NaN, null) : (test.Loss, test.Accuracy);
        var wall = clock.WallSeconds;
        var total = run.TotalSteps;
        var trained = total - run.StartStep;

        summary.Values["model"] = run.ModelIR.Name;
        summary.Values["data"] = train.Data.Kind;
        foreach (var (key, value) in run.Data.Statistics) summary.Values["data_" + key] = value;
        summary.Values["train_loss"] = trainLoss;
        summary.Values["test_loss"] = testLoss;
        summary.Values["test_accuracy"] = testAcc;
        summary.Values["wall_seconds"] = wall;
        summary.Values["seconds_per_step"] = trained > 0 ? clock.ElapsedSeconds / trained : 0.0;
        // The optimizer step alone (batch gather, forward, backward, update), without logging, evaluation or checkpoints.
        summary.Values["train_step_ms"] = trained > 0 ? clock.StepTicks * 1000.0 / Stopwatch.Frequency / trained : 0.0;
        summary.Values["parameter_count"] = run.ModelIR.ParameterCount;
        summary.Values["trainable_tensor_count"] = model.parameters().Sum(p => p.numel());
        summary.Values["steps"] = total;
        summary.Values["steps_this_process"] = trained; // after a resume, the steps trained since it
        summary.Values["epochs"] = (double)total / run.StepsPerEpoch;
        summary.Values["seed"] = run.Seed;
        summary.Values["batch"] = run.Batch;
        summary.Values["optimizer"] = train.Optimizer.Kind + "(" + string.Join(", ", train.Optimizer.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")";
        summary.Values["schedule"] = train.Schedule is { } sch ? sch.Kind + "(" + string.Join(", ", sch.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")" : "constant";
        summary.Values["reparametrised"] = model.ParameterNames.Where(n => model.ParameterizationOf(n).Kind != "plain")
            .Select(n => model.ParameterizationOf(n) is OffsetParameterization o ? $"{n}: {o.Method}{(o.Inner is { } i ? " + " + i.Kind : "")}" : $"{n}: {model.ParameterizationOf(n).Kind}").ToList();
        summary.Values["device"] = run.Device.ToString();
        Result = new TrainResult(run.OutDir, total, trainLoss, testLoss, testAcc, wall, run.ModelIR.ParameterCount);
    }
}
