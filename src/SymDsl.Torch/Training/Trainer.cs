using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SymDsl.Diagnostics;
using SymDsl.Text;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>
/// Run-time choices from the command line; null means "as the train block says". <see cref="Lock"/>: the run
/// directory's lock when the caller already holds it (the CLI holds it until weights.dat is written); null: the run
/// takes it itself. <see cref="Prepared"/>: called under the lock once a resume has been verified and loaded, before the
/// run writes anything, for the caller's own files (the CLI's build/ and run.json). <see cref="Warn"/>: the stated
/// warnings of a resume that is still sound (e.g. a longer run).
/// </summary>
public sealed record TrainOptions(
    string OutDir,
    int? Epochs = null,
    int? Steps = null,
    long? Seed = null,
    string Device = "cpu",
    bool Resume = false,
    int? CheckpointEvery = null,
    string? SymmetryReportMarkdown = null,
    RunLock? Lock = null,
    Action? Prepared = null,
    Action<string>? Warn = null);

/// <summary>Reported to the caller (the CLI renders it) as training goes on.</summary>
public sealed record TrainProgress(long Step, long TotalSteps, int Epoch, double Loss, double LearningRate);

/// <summary>What a finished run reports; the same numbers are in DIR/summary.json.</summary>
public sealed record TrainResult(string OutDir, long Steps, double TrainLoss, double TestLoss, double? TestAccuracy, double WallSeconds, long ParameterCount);

public static class Trainer
{
    /// <summary>DIR/summary.json, written last: a run directory without it did not finish.</summary>
    public const string SummaryFileName = "summary.json";

    /// <summary>
    /// Trains <paramref name="train"/>'s model from <paramref name="program"/>. User-facing failures (bad data, shape
    /// mismatch, divergence, unwritable output) are thrown as <see cref="SymDsl.Diagnostics.SymDslException"/>.
    /// <paramref name="observers"/> (e.g. the symmetry diagnostics) are called at start, after every step and at the end.
    /// Cancellation throws <see cref="OperationCanceledException"/> between steps; checkpoints already written stay valid.
    /// </summary>
    public static TrainResult Run(ProgramIR program, TrainIR train, TrainOptions options, Action<TrainProgress>? progress = null,
        CancellationToken cancel = default, IReadOnlyList<ITrainingObserver>? observers = null)
    {
        // Every tensor created by the run outside its per-step scopes (data, parameters, probe views, optimizer
        // state) belongs to this scope and is released when the run ends, successfully or not.
        using var scope = NewDisposeScope();
        using var run = new TrainingRun(program, train, options, observers ?? [], progress, cancel);
        try
        {
            return run.Execute();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A write that no more specific handler names (.NET's message names the file): one line, never "internal error".
            throw new SymDslException($"cannot write the run directory {Path.GetFullPath(options.OutDir)}: {e.Message}", e);
        }
    }

    /// <summary>The reparametrisations a train block asks for: syre (offset) on its break parameters, induce sparsity / lowrank.</summary>
    public static List<ReparamRequest> Reparametrisations(TrainIR train, ModelIR? model = null)
    {
        var list = new List<ReparamRequest>();
        foreach (var b in train.Breaks)
        {
            var method = Vocabulary.Regularizers.Find(b.Method)
                ?? throw new SymDslException($"break method {b.Method} is not supported by the trainer ({string.Join(", ", Vocabulary.Regularizers.Names)})");
            // θ₀ ~ N(0, sigma²) (per unit when the method says so); decay on θ (see OffsetParameterization).
            var args = method.Bind(b.Args);
            var sigma = args.Double("sigma");
            var decay = args.Double("decay");
            foreach (var p in b.Parameters)
            {
                int? axis = null;
                if (method.PerUnitOffset && model is not null)
                    axis = model.Symmetries.Where(s => b.Symmetries.Contains(s.Name))
                        .SelectMany(s => s.Actions).FirstOrDefault(a => a.Parameter == p)?.Axis;
                list.Add(new ReparamRequest(p, "offset", sigma, decay, Method: b.Method, Axis: axis));
            }
        }
        foreach (var ind in train.Induces)
        {
            list.Add(ind.Structure switch
            {
                "sparsity" => new ReparamRequest(ind.Parameter, "hadamard"),
                "lowrank" => new ReparamRequest(ind.Parameter, "factorized", Rank: ind.Args.TryGetValue("rank", out var r) ? (int)r.AsInt() : null),
                _ => throw new SymDslException($"induce {ind.Structure} is not supported (sparsity, lowrank)"),
            });
        }
        return list;
    }

    /// <summary>
    /// Builds the optimizer with TorchSharp's own SGD/Adam/AdamW. Parameter groups: one with the optimizer's
    /// weight_decay for ordinary parameters, one per distinct syre decay for the stored P = θ + θ₀ of syre-reparametrised
    /// parameters (their decay replaces the optimizer's).
    /// </summary>
    public static OptimizerHelper BuildOptimizer(SymModel model, OptimizerIR opt)
    {
        var a = opt.Args;
        var lr = a.Double("lr", opt.Kind == "sgd" ? 0.01 : 1e-3);
        var wd = a.Double("weight_decay", opt.Kind == "adamw" ? 0.01 : 0.0);
        var groups = model.named_parameters()
            .GroupBy(np => model.RawWeightDecay.TryGetValue(np.name, out var d) ? d : wd)
            .Select(g => (decay: g.Key, ps: g.Select(np => np.parameter).ToList()))
            .ToList();
        double beta1 = a.Double("beta1", 0.9), beta2 = a.Double("beta2", 0.999), eps = a.Double("eps", 1e-8);
        return opt.Kind switch
        {
            "sgd" => optim.SGD(groups.Select(g => new SGD.ParamGroup(g.ps, lr, a.Double("momentum", 0.0), 0.0, g.decay, a.Bool("nesterov", false), false)),
                lr, a.Double("momentum", 0.0), 0.0, wd, a.Bool("nesterov", false), false),
            "adam" => optim.Adam(groups.Select(g => new Adam.ParamGroup(g.ps, lr, beta1, beta2, eps, g.decay, false, false)), lr, beta1, beta2, eps, wd, false, false),
            "adamw" => optim.AdamW(groups.Select(g => new AdamW.ParamGroup(g.ps, lr, beta1, beta2, eps, g.decay, false, false)), lr, beta1, beta2, eps, wd, false, false),
            _ => throw new SymDslException($"unknown optimizer {opt.Kind} (sgd, adam, adamw)"),
        };
    }

    /// <summary>The loss of a model output against a target field (<see cref="LossFunctions"/>): the mean over the batch.</summary>
    public static Tensor LossOf(string kind, Tensor output, Tensor target) => LossFunctions.Get(kind)(output, target);
}

/// <summary>One call of <see cref="Trainer.Run"/>: owns the data, the model, the optimizer and the output files.</summary>
sealed class TrainingRun : IDisposable
{
    static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    static readonly JsonSerializerOptions JsonIndented = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    readonly ProgramIR _program;
    readonly TrainIR _train;
    readonly TrainOptions _options;
    readonly IReadOnlyList<ITrainingObserver> _observers;
    readonly Action<TrainProgress>? _progress;
    readonly CancellationToken _cancel;
    readonly List<IDisposable> _owned = new();
    readonly Stopwatch _clock = Stopwatch.StartNew();

    public TrainingRun(ProgramIR program, TrainIR train, TrainOptions options, IReadOnlyList<ITrainingObserver> observers, Action<TrainProgress>? progress, CancellationToken cancel)
    {
        _program = program; _train = train; _options = options; _progress = progress; _cancel = cancel;
        // A teleport clause is run by an observer of its own, before the caller's (it moves the parameters they see).
        _observers = train.Teleports.Count > 0 && program.Models.Any(m => m.Name == train.Model)
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
        // One run at a time per directory: the lock is held until the run ends (or its process dies).
        var runLock = _options.Lock ?? RunLock.Acquire(_options.OutDir, _options.Resume);
        if (_options.Lock is null) _owned.Add(runLock);
        else if (runLock.Directory != Path.GetFullPath(_options.OutDir))
            throw new ArgumentException($"the lock given is on {runLock.Directory}, not on the run directory {_options.OutDir}");
        var outDir = runLock.Directory;
        var modelIR = _program.Models.Any(m => m.Name == _train.Model) ? _program.ModelFor(_train)
            : throw new SymDslException($"train block names model {_train.Model}, which the program does not define");
        var device = SelectDevice(_options.Device);
        var seed = _options.Seed ?? _train.Seed;
        using var setup = NativeSection.Enter(); // closed before the first step (each step opens its own)

        // Every random draw of the run comes from generators seeded here (model initialisation and θ₀: SymModel's own
        // Generator; data splits, synthetic data and the shuffle: DataSources); torch's global generator is not used.
        var data = DataSources.Load(_train.Data, seed);
        _owned.Add(data);
        var (classes, outputShape) = Validate(modelIR, data);

        var model = new SymModel(modelIR, Trainer.Reparametrisations(_train, modelIR), seed);
        _owned.Add(model);
        model.to(device);
        var optimizer = Trainer.BuildOptimizer(model, _train.Optimizer);
        _owned.Add(optimizer);
        var baseLr = _train.Optimizer.Args.Double("lr", _train.Optimizer.Kind == "sgd" ? 0.01 : 1e-3);

        var trainFields = OnDevice(data.Train, device);
        var testFields = OnDevice(data.Test, device);
        var nTrain = (int)data.TrainCount;
        var batch = Math.Max(1, Math.Min(_train.Batch, nTrain));
        var stepsPerEpoch = (nTrain + batch - 1) / batch;
        if ((batch == 1 || nTrain % batch == 1) && NeedsSeveralExamples(modelIR) is { } bn)
            throw new SymDslException($"{bn} takes its statistics over the batch, but {(batch == 1 ? "every batch" : $"the last batch of each epoch ({nTrain} training rows, batch {batch})")} holds a single example; choose another batch size");
        long total = _options.Steps ?? (_options.Epochs is { } e ? (long)e * stepsPerEpoch : _train.Steps ?? (_train.Epochs is { } te ? (long)te * stepsPerEpoch
            : throw new SymDslException("the train block sets neither epochs nor steps")));
        if (total < 1) throw new SymDslException($"nothing to train: {total} steps");
        var schedule = new Schedule(_train.Schedule, baseLr, total);
        var checkpointEvery = _options.CheckpointEvery ?? _train.CheckpointEvery;
        var logEvery = Math.Max(1, _train.LogEvery);
        var ckptPath = Path.Combine(outDir, Checkpoint.FileName);
        var spec = RunSpec.Of(_train, data);

        long start = 0;
        double previousWall = 0;
        long? lastGood = null; // the step of the last checkpoint on disk (this run's or the one resumed), which a divergence keeps
        var lines = new List<string>();
        var metricsPath = Path.Combine(outDir, MetricsLog.FileName);
        var log = new MetricsLog(); // the count and SHA-256 of the metrics.jsonl lines so far, recorded in each checkpoint
        _owned.Add(log);
        if (_options.Resume)
        {
            // Validate first, write after: nothing in the run directory changes before the checkpoint has been verified
            // (checksum), compared with this run (model, parameters, seed, settings, data, length) and loaded.
            var file = Checkpoint.Open(ckptPath);
            var warnings = Checkpoint.CheckResume(ckptPath, file.Meta, model, seed, spec, total, (t, s) => new Schedule(_train.Schedule, baseLr, t).At(s));
            lines.AddRange(log.ReadVerified(metricsPath, ckptPath, file.Meta)); // its first N lines must be the checkpoint's
            file.Restore(model, optimizer);
            foreach (var w in warnings) _options.Warn?.Invoke(w);
            start = file.Meta.Step;
            previousWall = file.Meta.WallSeconds;
            lastGood = start;
        }
        _options.Prepared?.Invoke();
        runLock.RemoveStaleTemporaries();
        // metrics.jsonl and tensorboard/ restart from the checkpoint's lines (verified above): steps past it (a crash) are
        // dropped, none is written twice. metrics.jsonl is replaced atomically, so a kill here leaves the old or the new one.
        Writing(metricsPath, () => AtomicFile.WriteAllLines(metricsPath, lines));

        var probeCount = Math.Min(256, nTrain);
        var probe = trainFields.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, probeCount));
        Tensor BatchLoss(IReadOnlyDictionary<string, Tensor> b) => Trainer.LossOf(_train.Loss.Kind, model.Forward(b)[_train.Loss.Output], b[_train.Loss.Target]);
        var context = new TrainingContext
        {
            Model = model, ModelIR = modelIR, Train = _train, Device = device, OutDir = outDir, Seed = seed, Data = data,
            ProbeBatch = probe, Loss = BatchLoss, TotalSteps = total, StepsPerEpoch = stepsPerEpoch, StartStep = start,
            Optimizer = optimizer,
        };

        var tb = TensorBoard(outDir, lines);
        var metricsWriter = new StreamWriter(metricsPath, append: true);
        _owned.Add(metricsWriter);
        foreach (var o in _observers) o.OnStart(context);

        // summary.json marks a complete run (it is written last): a stale one from an earlier run in this directory goes now.
        Writing(Path.Combine(outDir, SummaryFileName), () => File.Delete(Path.Combine(outDir, SummaryFileName)));

        setup.Dispose();
        model.train();
        int[]? perm = null;
        var permEpoch = -1;
        double lastLoss = double.NaN;
        long stepTicks = 0;
        for (var step = start; step < total; step++)
        {
            // No garbage collection while this step's libtorch calls run (see NativeSection: TorchSharp's implicit Scalars).
            using var native = NativeSection.Enter();
            if (_cancel.IsCancellationRequested)
            {
                // Interrupted: keep the work done so far so that --resume continues from here.
                if (step > start && (checkpointEvery is not { } c || c <= 0 || step % c != 0) && Divergence.DiagnoseState(model, optimizer) is null)
                {
                    Writing(metricsPath, () => FlushToDisk(metricsWriter));
                    Checkpoint.Save(ckptPath, model, optimizer, new CheckpointMeta(modelIR.Name, seed, step, total, previousWall + _clock.Elapsed.TotalSeconds, log.Count, log.Sha256) { Run = spec });
                }
                _cancel.ThrowIfCancellationRequested();
            }
            var epoch = (int)(step / stepsPerEpoch);
            var pos = (int)(step % stepsPerEpoch);
            if (epoch != permEpoch) { perm = DataSources.Permutation(nTrain, seed * 1_000_033 + epoch); permEpoch = epoch; }
            var lr = schedule.At(step);
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            context.LearningRate = lr;

            var stepStart = Stopwatch.GetTimestamp();
            model.BeginStep(step); // dropout's masks of this step: from (seed, step) alone, so a resume draws the same
            using (var scope = NewDisposeScope())
            {
                var from = pos * batch;
                var idx = tensor(perm![from..Math.Min(from + batch, nTrain)].Select(i => (long)i).ToArray(), device: device);
                var b = trainFields.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
                try
                {
                    foreach (var o in _observers) o.OnBeforeStep(context, step + 1, b);
                    optimizer.zero_grad();
                    var loss = BatchLoss(b);
                    lastLoss = loss.item<float>(); // the loss is checked every step (this sync is needed anyway)
                    if (!double.IsFinite(lastLoss))
                        throw Divergence.Stopped($"the loss became {Divergence.Kind(lastLoss)}", step + 1, ckptPath, lastGood);
                    // Explicit regularisers (syre_diag) join the objective; the logged loss is the data loss alone.
                    if (model.Penalty() is { } penalty) loss = loss + penalty;
                    loss.backward();
                    foreach (var o in _observers) o.OnGradients(context, step + 1);
                    // Every gradient in one fused check (one sync) before the update, so that a non-finite gradient never
                    // reaches the parameters or the optimizer state; the culprit is named only once something is found.
                    if (Divergence.FirstNonFinite(Divergence.Gradients(model)) is { } bad)
                        throw Divergence.Stopped($"the gradient of {bad.Name} became {bad.Kind}", step + 1, ckptPath, lastGood);
                    model.OptimizerStep(optimizer); // syre/perturb: the optimizer's decay acts on θ = P − θ₀
                }
                catch (System.Runtime.InteropServices.ExternalException torchError)
                {
                    throw TorchFailed(torchError, model, optimizer, step + 1, ckptPath, lastGood);
                }
            }
            stepTicks += Stopwatch.GetTimestamp() - stepStart;

            var done = step + 1;
            var metrics = new Dictionary<string, object?> { ["step"] = done, ["epoch"] = epoch, ["loss"] = lastLoss, ["lr"] = lr };
            var baseKeys = metrics.Count;
            if (_observers.Count > 0)
                using (var scope = NewDisposeScope())
                    try
                    {
                        foreach (var o in _observers) o.OnStep(context, done, metrics);
                    }
                    catch (System.Runtime.InteropServices.ExternalException torchError)
                    {
                        throw TorchFailed(torchError, model, optimizer, done, ckptPath, lastGood);
                    }
            var epochEnd = pos == stepsPerEpoch - 1 || done == total;
            if (epochEnd && data.TestCount > 0)
            {
                // Test evaluation in evaluation mode (BatchNorm's running statistics, no dropout), then back to training.
                model.eval();
                var (tl, ta) = Evaluate(model, testFields, classes);
                model.train();
                metrics["test_loss"] = tl;
                if (ta is { } acc) metrics["test_accuracy"] = acc;
            }
            if (done % logEvery == 0 || done == total || epochEnd || metrics.Count > baseKeys)
            {
                var line = JsonSerializer.Serialize(metrics, Json);
                lines.Add(line);
                log.Add(line);
                Writing(metricsPath, () => { metricsWriter.WriteLine(line); metricsWriter.Flush(); });
                Writing(tb.LogDir, () => AddScalars(tb, line));
            }
            var checkpointNow = (checkpointEvery is { } ce && ce > 0 && done % ce == 0) || done == total;
            // Never overwrite the last good checkpoint with a diverged state: the parameters and the optimizer state
            // are checked first (a finite loss and finite gradients can still give a non-finite update).
            if (checkpointNow && Divergence.DiagnoseState(model, optimizer) is { } what)
                throw Divergence.Stopped(what, done, ckptPath, lastGood);
            // The checkpoint only reads tensors' bytes (no Scalars) and allocates (the state's bytes): written outside the
            // no-GC section so that it never exhausts the section's allocation budget.
            native.Dispose();
            if (checkpointNow)
            {
                // metrics.jsonl's lines up to this step are on disk before the checkpoint that records their count and hash.
                Writing(metricsPath, () => FlushToDisk(metricsWriter));
                Checkpoint.Save(ckptPath, model, optimizer, new CheckpointMeta(modelIR.Name, seed, done, total, previousWall + _clock.Elapsed.TotalSeconds, log.Count, log.Sha256) { Run = spec });
                lastGood = done;
            }
            _progress?.Invoke(new TrainProgress(done, total, epoch, lastLoss, lr));
        }
        Writing(metricsPath, metricsWriter.Flush);
        if (Environment.GetEnvironmentVariable("SYMC_GC_STATS") == "1")
            Console.Error.WriteLine($"native sections: {NativeSection.Renewals} no-GC region starts, {NativeSection.CollectionsInside} collections inside a section; gen0 {GC.CollectionCount(0)}, gen2 {GC.CollectionCount(2)} collections");

        // Final evaluation (eval mode, no gradients).
        using var final = NativeSection.Enter();
        model.eval();
        var (trainLoss, _) = Evaluate(model, trainFields, classes);
        var (testLoss, testAcc) = data.TestCount > 0 ? Evaluate(model, testFields, classes) : (double.NaN, null);
        var wall = previousWall + _clock.Elapsed.TotalSeconds;
        var trained = total - start;

        var summary = new TrainSummary();
        summary.Values["model"] = modelIR.Name;
        summary.Values["data"] = _train.Data.Kind;
        foreach (var (key, value) in data.Statistics) summary.Values["data_" + key] = value;
        summary.Values["train_loss"] = trainLoss;
        summary.Values["test_loss"] = testLoss;
        summary.Values["test_accuracy"] = testAcc;
        summary.Values["wall_seconds"] = wall;
        summary.Values["seconds_per_step"] = trained > 0 ? _clock.Elapsed.TotalSeconds / trained : 0.0;
        // The optimizer step alone (batch gather, forward, backward, update), without logging, evaluation or checkpoints.
        summary.Values["train_step_ms"] = trained > 0 ? stepTicks * 1000.0 / Stopwatch.Frequency / trained : 0.0;
        summary.Values["parameter_count"] = modelIR.ParameterCount;
        summary.Values["trainable_tensor_count"] = model.parameters().Sum(p => p.numel());
        summary.Values["steps"] = total;
        summary.Values["steps_this_process"] = trained; // after a resume, the steps trained since it
        summary.Values["epochs"] = (double)total / stepsPerEpoch;
        summary.Values["seed"] = seed;
        summary.Values["batch"] = batch;
        summary.Values["optimizer"] = _train.Optimizer.Kind + "(" + string.Join(", ", _train.Optimizer.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")";
        summary.Values["schedule"] = _train.Schedule is { } sch ? sch.Kind + "(" + string.Join(", ", sch.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")" : "constant";
        summary.Values["reparametrised"] = model.ParameterNames.Where(n => model.ParameterizationOf(n).Kind != "plain")
            .Select(n => model.ParameterizationOf(n) is OffsetParameterization o ? $"{n}: {o.Method}{(o.Inner is { } i ? " + " + i.Kind : "")}" : $"{n}: {model.ParameterizationOf(n).Kind}").ToList();
        summary.Values["device"] = device.ToString();
        // Write order: observers' end-of-run files (the CLI's weights.dat), plots, report.html, then summary.json, last and
        // atomically: a run directory with summary.json is complete; without it, the run did not finish.
        foreach (var o in _observers) o.OnEnd(context, summary);
        final.Dispose();
        var json = new Dictionary<string, object?>(summary.Values) { ["events"] = summary.Events };

        var plots = Reports.WritePlots(outDir, lines);
        Reports.WriteHtml(outDir, $"{modelIR.Name} — {Path.GetFileName(_program.SourcePath)}", summary, plots, _options.SymmetryReportMarkdown);
        Reports.WriteAtomically(Path.Combine(outDir, SummaryFileName), JsonSerializer.Serialize(json, JsonIndented));

        return new TrainResult(outDir, total, trainLoss, testLoss, testAcc, wall, modelIR.ParameterCount);
    }

    const string SummaryFileName = Trainer.SummaryFileName;

    /// <summary>A layer that cannot take a batch of one example where it is applied (a BatchNorm on [C]: its statistics are
    /// over the batch alone), as "Kind 'name'"; null when there is none.</summary>
    static string? NeedsSeveralExamples(ModelIR model)
        => model.Nodes.Where(n => n.Op == OpKind.Layer).Select(n => (Node: n, Layer: model.Layer(n.Attr("layer"))))
            .Where(a => Vocabulary.LayerDefinition.Of(a.Layer.Kind).NeedsSeveralExamples(model.Node(a.Node.Inputs[0]).Shape))
            .Select(a => $"{a.Layer.Kind} '{a.Layer.Name}'").FirstOrDefault();

    /// <summary>
    /// A new tensorboard/ holding the scalars of <paramref name="lines"/> (the metrics so far: none for a new run, the
    /// checkpoint's after a resume), so that no step is missing or appears twice however often a run is resumed.
    /// </summary>
    static TorchSharp.Modules.SummaryWriter TensorBoard(string outDir, IReadOnlyList<string> lines)
    {
        var dir = Path.Combine(outDir, "tensorboard");
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            var tb = torch.utils.tensorboard.SummaryWriter(dir, "", false);
            foreach (var line in lines) AddScalars(tb, line);
            return tb;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"cannot write {dir}: {e.Message}", e);
        }
    }

    /// <summary>The finite numbers of one metrics.jsonl line, but step and epoch, as TensorBoard scalars at its step.</summary>
    static void AddScalars(TorchSharp.Modules.SummaryWriter tb, string line)
    {
        using var doc = JsonDocument.Parse(line);
        var step = doc.RootElement.GetProperty("step").GetInt64();
        foreach (var p in doc.RootElement.EnumerateObject())
            if (p.Name is not ("step" or "epoch") && p.Value.ValueKind == JsonValueKind.Number && p.Value.GetDouble() is var d && double.IsFinite(d))
                tb.add_scalar(p.Name, (float)d, (int)step);
    }


    /// <summary>
    /// A libtorch error during a step: when something went non-finite it is a divergence, said as one (a NaN can make a
    /// libtorch call fail before any check sees it); otherwise a one-line failure. libtorch's own text stays in the inner
    /// exception (the CLI prints it with SYMC_DEBUG=1).
    /// </summary>
    static SymDslException TorchFailed(System.Runtime.InteropServices.ExternalException error, SymModel model, OptimizerHelper optimizer, long step, string ckptPath, long? lastGood)
    {
        string? what;
        try { what = Divergence.Diagnose(model, optimizer); }
        catch (System.Runtime.InteropServices.ExternalException) { what = null; }
        return what is not null
            ? Divergence.Stopped(what, step, ckptPath, lastGood, error)
            : new SymDslException($"libtorch failed at step {step} although the loss, gradients, parameters and optimizer state are finite; training stopped"
                + (lastGood is { } k ? $", the last good checkpoint (step {k}) is kept in {ckptPath}" : " (no checkpoint was written)")
                + " (set SYMC_DEBUG=1 for libtorch's message)", error);
    }

    /// <summary>Flushes <paramref name="writer"/> and its file to disk.</summary>
    static void FlushToDisk(StreamWriter writer)
    {
        writer.Flush();
        if (writer.BaseStream is FileStream fs) fs.Flush(flushToDisk: true);
    }

    /// <summary>Runs a write to <paramref name="path"/>; an I/O failure becomes one line naming the file.</summary>
    static void Writing(string path, Action write)
    {
        try { write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Reports.CannotWrite(path, e);
        }
    }

    (double loss, double? accuracy) Evaluate(SymModel model, Dictionary<string, Tensor> fields, int? classes)
    {
        var scores = Evaluation.Score(model, _train, fields, classes);
        return (scores.Loss, scores.Accuracy);
    }

    Dictionary<string, Tensor> OnDevice(Dictionary<string, Tensor> fields, Device device)
    {
        if (device.type == DeviceType.CPU) return fields;
        var moved = fields.ToDictionary(kv => kv.Key, kv => kv.Value.to(device));
        foreach (var t in moved.Values) _owned.Add(t);
        return moved;
    }

    static Device SelectDevice(string name)
    {
        if (name == "cpu") return CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available()) throw new SymDslException("CUDA requested but not available");
            return torch.device(name);
        }
        throw new SymDslException($"unknown device {name} (cpu, cuda)");
    }

    /// <summary>See <see cref="Evaluation.Validate"/>.</summary>
    (int? classes, IReadOnlyList<int> outputShape) Validate(ModelIR model, DataSet data) => Evaluation.Validate(model, _train, data);
}
