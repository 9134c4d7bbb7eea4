using System.Diagnostics;
using System.Runtime.InteropServices;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>
/// One call of <see cref="Trainer.Run"/>: the set-up (<see cref="RunSetup"/>), then the training loop, as TorchSharp's
/// examples write it: per step a batch, the loss, backward, the gradient check and the optimizer step (<see cref="Step"/>),
/// then the observers. Everything else a run does is an observer: in the step's no-GC section the run's summary
/// (<see cref="RunSummary"/>), a teleport clause's <see cref="Teleporter"/>, the caller's observers and the epoch-end test
/// evaluation (<see cref="EpochEvaluation"/>); after it the writers: metrics.jsonl and TensorBoard
/// (<see cref="MetricsLogWriter"/>, <see cref="TensorBoardWriter"/>), checkpoints (<see cref="CheckpointWriter"/>) and the
/// plots, report and summary.json (<see cref="ReportWriter"/>).
/// </summary>
sealed class TrainingRun : IDisposable
{
    readonly ProgramIR _program;
    readonly TrainIR _train;
    readonly TrainOptions _options;
    readonly IReadOnlyList<ITrainingObserver> _callers;
    readonly Action<TrainProgress>? _progress;
    readonly CancellationToken _cancel;
    readonly List<IDisposable> _owned = new();
    // The model's parameters by name, listed at the first step (the loop never replaces them: moves and loads are set-up).
    List<(string Name, Parameter Parameter)>? _parameters;

    public TrainingRun(ProgramIR program, TrainIR train, TrainOptions options, IReadOnlyList<ITrainingObserver> observers, Action<TrainProgress>? progress, CancellationToken cancel)
    {
        _program = program; _train = train; _options = options; _progress = progress; _cancel = cancel;
        // A teleport clause is run by an observer of its own, before the caller's (it moves the parameters they see).
        _callers = train.Teleports.Count > 0 && program.Models.Any(m => m.Name == train.Model)
            ? [new Teleporter(train, program.ModelFor(train)), .. observers] : observers;
    }

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            // A writer whose file failed (full disk) fails again when disposed: the first failure is the one reported.
            try { _owned[i].Dispose(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    public TrainResult Execute()
    {
        using var setupSection = NativeSection.Enter(); // closed before the first step (each step opens its own)
        var run = RunSetup.Prepare(_program, _train, _options, _owned);
        var clock = new RunClock(run.PreviousWallSeconds);
        _options.Prepared?.Invoke();
        run.Lock.RemoveStaleTemporaries();

        var model = run.Model;
        var probe = run.TrainFields.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, Math.Min(256, run.TrainCount)));
        var context = new TrainingContext
        {
            Model = model, ModelIR = run.ModelIR, Train = _train, Device = run.Device, OutDir = run.OutDir, Seed = run.Seed, Data = run.Data,
            ProbeBatch = probe, Loss = BatchLoss, TotalSteps = run.TotalSteps, StepsPerEpoch = run.StepsPerEpoch, StartStep = run.StartStep,
            Optimizer = run.Optimizer,
        };

        // metrics.jsonl and tensorboard/ restart from the run's lines so far (a resume's, verified): steps past the
        // checkpoint (a crash) are dropped, none is written twice.
        var tensorBoard = new TensorBoardWriter(run.OutDir, run.Lines);
        _owned.Add(tensorBoard); // its writer thread stops (queued lines written) with the run, however it ends
        CheckpointWriter? checkpoints = null;
        var metricsLog = new MetricsLogWriter(run, tensorBoard, (e, step) => TorchFailed(e, run, step, checkpoints?.LastGood));
        _owned.Add(metricsLog);
        checkpoints = new CheckpointWriter(run, metricsLog, clock);
        var summary = new RunSummary(run, _train, clock);
        // Observers called inside the steps' no-GC sections, and the writers, called after them (they allocate, and may wait).
        ITrainingObserver[] observers = [summary, .. _callers, new EpochEvaluation(run, _train)];
        ITrainingObserver[] writers = [metricsLog, checkpoints, new ReportWriter(run, metricsLog, $"{run.ModelIR.Name} — {Path.GetFileName(_program.SourcePath)}", _options.SymmetryReportMarkdown)];
        foreach (var o in observers.Concat(writers)) o.OnStart(context);
        setupSection.Dispose();

        try
        {
            model.train();
            int[]? perm = null;
            var permEpoch = -1;
            for (var step = run.StartStep; step < run.TotalSteps; step++)
            {
                if (_cancel.IsCancellationRequested)
                {
                    // Interrupted: keep the work done so far so that --resume continues from here.
                    checkpoints.OnInterrupt(step);
                    _cancel.ThrowIfCancellationRequested();
                }
                var epoch = (int)(step / run.StepsPerEpoch);
                var pos = (int)(step % run.StepsPerEpoch);
                if (epoch != permEpoch) { perm = DataSources.Permutation(run.TrainCount, run.Seed * 1_000_033 + epoch); permEpoch = epoch; }
                var lr = run.Schedule.At(step);
                foreach (var g in run.Optimizer.ParamGroups) g.LearningRate = lr;
                context.LearningRate = lr;

                Dictionary<string, object?> metrics;
                double loss;
                // No garbage collection while this step's libtorch calls run (see NativeSection: TorchSharp's implicit Scalars).
                using (NativeSection.Enter())
                {
                    var stepStart = Stopwatch.GetTimestamp();
                    loss = Step(run, context, step, perm!.AsSpan(pos * run.Batch, Math.Min(run.Batch, run.TrainCount - pos * run.Batch)), checkpoints.LastGood);
                    clock.StepTicks += Stopwatch.GetTimestamp() - stepStart;
                    metrics = MetricsLogWriter.StepMetrics(step + 1, epoch, loss, lr);
                    using var scope = NewDisposeScope();
                    try
                    {
                        foreach (var o in observers) o.OnStep(context, step + 1, metrics);
                    }
                    catch (ExternalException torchError)
                    {
                        throw TorchFailed(torchError, run, step + 1, checkpoints.LastGood);
                    }
                }
                foreach (var w in writers) w.OnStep(context, step + 1, metrics);
                _progress?.Invoke(new TrainProgress(step + 1, run.TotalSteps, epoch, loss, lr));
            }
            metricsLog.Finish();
        }
        catch (Exception)
        {
            metricsLog.Abandon(); // background values still pending: written as far as they complete (never partly)
            throw;
        }
        if (Environment.GetEnvironmentVariable("SYMC_GC_STATS") == "1")
            Console.Error.WriteLine($"native sections: {NativeSection.Renewals} no-GC region starts ({NativeSection.RenewalSeconds:F3} s), {NativeSection.CollectionsInside} collections inside a section; gen0 {GC.CollectionCount(0)}, gen2 {GC.CollectionCount(2)} collections; {GC.GetTotalAllocatedBytes(false) / Math.Max(1, run.TotalSteps - run.StartStep)} managed bytes allocated per step");

        // The final evaluation (RunSummary, first) and the observers' end-of-run keys, events and files (the CLI's
        // weights.dat), then plots, report.html and summary.json, last and atomically: a run directory with summary.json is
        // complete; without it, the run did not finish.
        var end = new TrainSummary();
        using (NativeSection.Enter())
            foreach (var o in observers) o.OnEnd(context, end);
        foreach (var w in writers) w.OnEnd(context, end);
        return summary.Result!;

        Tensor BatchLoss(IReadOnlyDictionary<string, Tensor> b) => Trainer.LossOf(_train.Loss.Kind, model.Forward(b)[_train.Loss.Output], b[_train.Loss.Target]);
    }

    /// <summary>
    /// One optimizer step (step + 1, 1-based, in the caller's no-GC section) on the training rows <paramref name="rows"/>,
    /// in a dispose scope of its own: batch, the observers' <see cref="ITrainingObserver.OnBeforeStep"/>, loss (checked
    /// finite), backward, <see cref="ITrainingObserver.OnGradients"/>, every gradient checked finite, the update. Returns
    /// the batch's data loss.
    /// </summary>
    double Step(RunSetup run, TrainingContext context, long step, ReadOnlySpan<int> rows, long? lastGood)
    {
        var (model, optimizer) = (run.Model, run.Optimizer);
        model.BeginStep(step); // dropout's masks of this step: from (seed, step) alone, so a resume draws the same
        var indices = new long[rows.Length];
        for (var i = 0; i < rows.Length; i++) indices[i] = rows[i];
        using var scope = NewDisposeScope();
        var idx = tensor(indices, device: run.Device);
        var b = run.TrainFields.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
        try
        {
            foreach (var o in _callers) o.OnBeforeStep(context, step + 1, b);
            var loss = context.Loss(b);
            var value = (double)loss.item<float>(); // the loss is checked every step (this sync is needed anyway)
            if (!double.IsFinite(value))
                throw Divergence.Stopped($"the loss became {Divergence.Kind(value)}", step + 1, run.CheckpointPath, lastGood);
            // Explicit regularisers (syre_diag) join the objective; the logged loss is the data loss alone.
            if (model.Penalty() is { } penalty) loss = loss + penalty;
            // The gradients are zeroed right before the backward pass that adds into them (still in cache when it does).
            // syre/perturb under SGD or Adam: .grad starts at −λθ₀ instead of 0 (the optimizer's decay then acts on θ with no
            // pass of its own), except at steps where an observer reads the loss gradient in .grad.
            var lossGradients = false;
            foreach (var o in _callers) lossGradients |= o.ReadsGradients(step + 1);
            model.ZeroGradients(optimizer, lossGradients);
            loss.backward();
            foreach (var o in _callers) o.OnGradients(context, step + 1);
            // Every gradient in one fused check (one sync) before the update, so that a non-finite gradient never reaches
            // the parameters or the optimizer state; the culprit is named only once something is found.
            if (Divergence.FirstNonFinite(Divergence.Gradients(_parameters ??= model.named_parameters().ToList())) is { } bad)
                throw Divergence.Stopped($"the gradient of {bad.Name} became {bad.Kind}", step + 1, run.CheckpointPath, lastGood);
            model.OptimizerStep(optimizer); // syre/perturb: the optimizer's decay acts on θ = P − θ₀
            return value;
        }
        catch (ExternalException torchError)
        {
            throw TorchFailed(torchError, run, step + 1, lastGood);
        }
    }

    /// <summary>
    /// A libtorch error during a step: when something went non-finite it is a divergence, said as one (a NaN can make a
    /// libtorch call fail before any check sees it); otherwise a one-line failure. libtorch's own text stays in the inner
    /// exception (the CLI prints it with SYMC_DEBUG=1).
    /// </summary>
    static SymDslException TorchFailed(ExternalException error, RunSetup run, long step, long? lastGood)
    {
        string? what;
        using (NativeSection.Enter()) // also called by the writers, after the step's section
        {
            try { what = Divergence.Diagnose(run.Model, run.Optimizer); }
            catch (ExternalException) { what = null; }
        }
        return what is not null
            ? Divergence.Stopped(what, step, run.CheckpointPath, lastGood, error)
            : new SymDslException($"libtorch failed at step {step} although the loss, gradients, parameters and optimizer state are finite; training stopped"
                + (lastGood is { } k ? $", the last good checkpoint (step {k}) is kept in {run.CheckpointPath}" : " (no checkpoint was written)")
                + " (set SYMC_DEBUG=1 for libtorch's message)", error);
    }
}
