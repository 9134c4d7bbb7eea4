using SymDsl.IR;
namespace SymDsl.Torch.Training;

/// <summary>
/// The test split's loss and accuracy (<see cref="Evaluation.Score"/>, in evaluation mode: BatchNorm's running
/// statistics, no dropout; then back to training mode) at each epoch end and at the last step, as the step's
/// <c>test_loss</c> and <c>test_accuracy</c>. Runs after the caller's observers, so its keys come after theirs.
/// </summary>
sealed class EpochEvaluation(RunSetup run, TrainIR train) : ITrainingObserver
{
    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
    {
        var epochEnd = step % run.StepsPerEpoch == 0 || step == run.TotalSteps;
        if (!epochEnd || run.Data.TestCount == 0) return;
        run.Model.eval();
        var scores = Evaluation.Score(run.Model, train, run.TestFields, run.Classes);
        run.Model.train();
        metrics["test_loss"] = scores.Loss;
        if (scores.Accuracy is { } accuracy) metrics["test_accuracy"] = accuracy;
    }
}
