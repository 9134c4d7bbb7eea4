using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Training;

/// <summary>
/// DIR/checkpoint.bin every <c>checkpoint</c> steps, at the end of the run, and when the run is interrupted. Before each,
/// the parameters and the optimizer state are checked (a diverged state never replaces the last good checkpoint) and
/// metrics.jsonl's pending lines are written and flushed to disk (the checkpoint records their count and hash).
/// Called after the step's no-GC section has closed: a checkpoint only reads tensors' bytes (no Scalars) and allocates
/// (the state's bytes), which would exhaust the section's budget.
/// </summary>
sealed class CheckpointWriter(RunSetup run, MetricsLogWriter metrics, RunClock clock) : ITrainingObserver
{
    /// <summary>The step of the last checkpoint on disk (this run's or the one resumed), which a divergence keeps; null when there is none.</summary>
    public long? LastGood { get; private set; } = run.Resumed ? run.StartStep : null;

    bool Due(long step) => (run.CheckpointEvery is { } every && every > 0 && step % every == 0) || step == run.TotalSteps;

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> values)
    {
        if (!Due(step)) return;
        // Never overwrite the last good checkpoint with a diverged state: the parameters and the optimizer state are
        // checked first (a finite loss and finite gradients can still give a non-finite update).
        using (NativeSection.Enter())
            if (Divergence.DiagnoseState(run.Model, run.Optimizer) is { } what)
                throw Divergence.Stopped(what, step, run.CheckpointPath, LastGood);
        Save(step);
    }

    /// <summary>
    /// The run was interrupted before step <paramref name="step"/> + 1: keeps the work done so far (unless a checkpoint of
    /// this step exists already or the state is not finite) so that --resume continues from here.
    /// </summary>
    public void OnInterrupt(long step)
    {
        if (step <= run.StartStep || (run.CheckpointEvery is { } every && every > 0 && step % every == 0)) return;
        using (NativeSection.Enter())
            if (Divergence.DiagnoseState(run.Model, run.Optimizer) is not null) return;
        Save(step);
    }

    void Save(long step)
    {
        // metrics.jsonl's lines up to this step (background values resolved) are on disk before the checkpoint that
        // records their count and hash.
        metrics.FlushToDisk();
        Checkpoint.Save(run.CheckpointPath, run.Model, run.Optimizer,
            new CheckpointMeta(run.ModelIR.Name, run.Seed, step, run.TotalSteps, clock.WallSeconds, run.Log.Count, run.Log.Sha256) { Run = run.Spec });
        LastGood = step;
    }
}
