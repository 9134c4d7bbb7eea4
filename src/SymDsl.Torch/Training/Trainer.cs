using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Training;

/// <summary>Run-time choices from the command line; null means "as the train block says".</summary>
public sealed record TrainOptions(
    string OutDir,
    int? Epochs = null,
    int? Steps = null,
    long? Seed = null,
    string Device = "cpu",
    bool Resume = false,
    int? CheckpointEvery = null,
    string? SymmetryReportMarkdown = null);

/// <summary>Reported to the caller (the CLI renders it) as training goes on.</summary>
public sealed record TrainProgress(long Step, long TotalSteps, int Epoch, double Loss, double LearningRate);

/// <summary>What a finished run reports; the same numbers are in DIR/summary.json.</summary>
public sealed record TrainResult(string OutDir, long Steps, double TrainLoss, double TestLoss, double? TestAccuracy, double WallSeconds, long ParameterCount);

public static class Trainer
{
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
        return run.Execute();
    }

    /// <summary>The reparametrisations a train block asks for: syre (offset) on its break parameters, induce sparsity / lowrank.</summary>
    public static List<ReparamRequest> Reparametrisations(TrainIR train, ModelIR? model = null)
    {
        var list = new List<ReparamRequest>();
        foreach (var b in train.Breaks)
        {
            if (b.Method is not ("syre" or "perturb" or "syre_diag"))
                throw new SymDslException($"break method {b.Method} is not supported by the trainer (syre, perturb, syre_diag)");
            // θ₀ ~ N(0, sigma²) (perturb: one offset per unit); decay on θ (see OffsetParameterization).
            var sigma = b.Args.Double("sigma", b.Method == "perturb" ? 0.01 : 0.1);
            var decay = b.Args.Double("decay", 1e-4);
            foreach (var p in b.Parameters)
            {
                int? axis = null;
                if (b.Method == "perturb" && model is not null)
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

    /// <summary>The loss of a model output against a target field: cross_entropy (logits [..., K], integer labels [...]; mean) or mse (mean over all entries).</summary>
    public static Tensor LossOf(string kind, Tensor output, Tensor target) => kind switch
    {
        "cross_entropy" => F.cross_entropy(output.reshape(-1, output.shape[^1]), target.reshape(-1)),
        "mse" => F.mse_loss(output, target.to_type(output.dtype)),
        _ => throw new SymDslException($"unknown loss {kind} (cross_entropy, mse)"),
    };
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
        _program = program; _train = train; _options = options; _observers = observers; _progress = progress; _cancel = cancel;
    }

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }

    public TrainResult Execute()
    {
        var outDir = PrepareOutDir(_options.OutDir);
        var modelIR = _program.Models.FirstOrDefault(m => m.Name == _train.Model)
            ?? throw new SymDslException($"train block names model {_train.Model}, which the program does not define");
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
        long total = _options.Steps ?? (_options.Epochs is { } e ? (long)e * stepsPerEpoch : _train.Steps ?? (_train.Epochs is { } te ? (long)te * stepsPerEpoch
            : throw new SymDslException("the train block sets neither epochs nor steps")));
        if (total < 1) throw new SymDslException($"nothing to train: {total} steps");
        var schedule = new Schedule(_train.Schedule, baseLr, total);
        var checkpointEvery = _options.CheckpointEvery ?? _train.CheckpointEvery;
        var logEvery = Math.Max(1, _train.LogEvery);
        var ckptPath = Path.Combine(outDir, Checkpoint.FileName);

        long start = 0;
        double previousWall = 0;
        var haveCheckpoint = false; // a checkpoint of this run (or the one resumed) exists on disk
        var lines = new List<string>();
        if (_options.Resume)
        {
            var meta = Checkpoint.Load(ckptPath, model, optimizer);
            if (meta.Seed != seed) throw new SymDslException($"{ckptPath} was written with seed {meta.Seed}, not {seed}");
            start = meta.Step;
            previousWall = meta.WallSeconds;
            haveCheckpoint = true;
            lines.AddRange(meta.MetricsLines);
        }
        File.WriteAllLines(Path.Combine(outDir, "metrics.jsonl"), lines);

        var probeCount = Math.Min(256, nTrain);
        var probe = trainFields.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, probeCount));
        Tensor BatchLoss(IReadOnlyDictionary<string, Tensor> b) => Trainer.LossOf(_train.Loss.Kind, model.Forward(b)[_train.Loss.Output], b[_train.Loss.Target]);
        var context = new TrainingContext
        {
            Model = model, ModelIR = modelIR, Train = _train, Device = device, OutDir = outDir, Seed = seed, Data = data,
            ProbeBatch = probe, Loss = BatchLoss, TotalSteps = total, StepsPerEpoch = stepsPerEpoch, StartStep = start,
        };

        var tb = torch.utils.tensorboard.SummaryWriter(Path.Combine(outDir, "tensorboard"), "", false);
        var metricsWriter = new StreamWriter(Path.Combine(outDir, "metrics.jsonl"), append: true);
        _owned.Add(metricsWriter);
        foreach (var o in _observers) o.OnStart(context);

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
                if (step > start && (checkpointEvery is not { } c || c <= 0 || step % c != 0) && ParametersFinite(model))
                    Checkpoint.Save(ckptPath, model, optimizer, new CheckpointMeta(modelIR.Name, seed, step, total, previousWall + _clock.Elapsed.TotalSeconds, lines));
                _cancel.ThrowIfCancellationRequested();
            }
            var epoch = (int)(step / stepsPerEpoch);
            var pos = (int)(step % stepsPerEpoch);
            if (epoch != permEpoch) { perm = DataSources.Permutation(nTrain, seed * 1_000_033 + epoch); permEpoch = epoch; }
            var lr = schedule.At(step);
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            context.LearningRate = lr;

            var stepStart = Stopwatch.GetTimestamp();
            using (var scope = NewDisposeScope())
            {
                var from = pos * batch;
                var idx = tensor(perm![from..Math.Min(from + batch, nTrain)].Select(i => (long)i).ToArray(), device: device);
                var b = trainFields.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
                try
                {
                    optimizer.zero_grad();
                    var loss = BatchLoss(b);
                    lastLoss = loss.item<float>();
                    if (!double.IsFinite(lastLoss))
                        throw new SymDslException($"the loss became {lastLoss.ToString(CultureInfo.InvariantCulture)} at step {step + 1}; training stopped"
                            + (haveCheckpoint ? $", the last good checkpoint is {ckptPath}" : " (no checkpoint was written)"));
                    // Explicit regularisers (syre_diag) join the objective; the logged loss is the data loss alone.
                    if (model.Penalty() is { } penalty) loss = loss + penalty;
                    loss.backward();
                    model.OptimizerStep(optimizer); // syre/perturb: the optimizer's decay acts on θ = P − θ₀

                }
                catch (System.Runtime.InteropServices.ExternalException torchError)
                {
                    throw new SymDslException($"torch failed at step {step + 1}: {FirstLine(torchError.Message)}", torchError);
                }
            }
            stepTicks += Stopwatch.GetTimestamp() - stepStart;

            var done = step + 1;
            var metrics = new Dictionary<string, object?> { ["step"] = done, ["epoch"] = epoch, ["loss"] = lastLoss, ["lr"] = lr };
            var baseKeys = metrics.Count;
            if (_observers.Count > 0)
                using (var scope = NewDisposeScope())
                    foreach (var o in _observers) o.OnStep(context, done, metrics);
            var epochEnd = pos == stepsPerEpoch - 1 || done == total;
            if (epochEnd && data.TestCount > 0)
            {
                var (tl, ta) = Evaluate(model, testFields, classes);
                metrics["test_loss"] = tl;
                if (ta is { } acc) metrics["test_accuracy"] = acc;
            }
            if (done % logEvery == 0 || done == total || epochEnd || metrics.Count > baseKeys)
            {
                var line = JsonSerializer.Serialize(metrics, Json);
                lines.Add(line);
                metricsWriter.WriteLine(line);
                metricsWriter.Flush();
                foreach (var (k, v) in metrics)
                    if (k is not ("step" or "epoch") && ToDouble(v) is { } d && double.IsFinite(d)) tb.add_scalar(k, (float)d, (int)done);
            }
            // The checkpoint only reads tensors' bytes (no Scalars) and can allocate a lot (it embeds the metrics so far):
            // written outside the no-GC section so that it never exhausts the section's allocation budget.
            native.Dispose();
            if ((checkpointEvery is { } ce && ce > 0 && done % ce == 0) || done == total)
            {
                // Never overwrite the last good checkpoint with diverged parameters (a finite loss can precede a non-finite update).
                if (!ParametersFinite(model))
                    throw new SymDslException($"the parameters became non-finite at step {done}; training stopped"
                        + (haveCheckpoint ? $", the last good checkpoint is {ckptPath}" : " (no checkpoint was written)"));
                Checkpoint.Save(ckptPath, model, optimizer, new CheckpointMeta(modelIR.Name, seed, done, total, previousWall + _clock.Elapsed.TotalSeconds, lines));
                haveCheckpoint = true;
            }
            _progress?.Invoke(new TrainProgress(done, total, epoch, lastLoss, lr));
        }
        metricsWriter.Flush();
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
        summary.Values["epochs"] = (double)total / stepsPerEpoch;
        summary.Values["seed"] = seed;
        summary.Values["batch"] = batch;
        summary.Values["optimizer"] = _train.Optimizer.Kind + "(" + string.Join(", ", _train.Optimizer.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")";
        summary.Values["schedule"] = _train.Schedule is { } sch ? sch.Kind + "(" + string.Join(", ", sch.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")" : "constant";
        summary.Values["reparametrised"] = model.ParameterNames.Where(n => model.ParameterizationOf(n).Kind != "plain")
            .Select(n => model.ParameterizationOf(n) is OffsetParameterization o ? $"{n}: {o.Method}{(o.Inner is { } i ? " + " + i.Kind : "")}" : $"{n}: {model.ParameterizationOf(n).Kind}").ToList();
        summary.Values["device"] = device.ToString();
        foreach (var o in _observers) o.OnEnd(context, summary);
        final.Dispose();
        var json = new Dictionary<string, object?>(summary.Values) { ["events"] = summary.Events };
        File.WriteAllText(Path.Combine(outDir, "summary.json"), JsonSerializer.Serialize(json, JsonIndented));

        var plots = Reports.WritePlots(outDir, lines);
        Reports.WriteHtml(outDir, $"{modelIR.Name} — {Path.GetFileName(_program.SourcePath)}", summary, plots, _options.SymmetryReportMarkdown);

        return new TrainResult(outDir, total, trainLoss, testLoss, testAcc, wall, modelIR.ParameterCount);
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    static bool ParametersFinite(SymModel model)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return model.parameters().All(p => p.isfinite().all().item<bool>());
    }

    static double? ToDouble(object? v) => v switch
    {
        double d => d, float f => f, int i => i, long l => l, _ => null,
    };

    (double loss, double? accuracy) Evaluate(SymModel model, Dictionary<string, Tensor> fields, int? classes)
    {
        var n = fields.Values.First().shape[0];
        if (n == 0) return (double.NaN, null);
        using var native = NativeSection.Enter();
        using var _ = no_grad();
        double lossSum = 0;
        long correct = 0, counted = 0;
        for (long from = 0; from < n; from += 1024)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(1024, n - from);
            var b = fields.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, from, len));
            var output = model.Forward(b)[_train.Loss.Output];
            var target = b[_train.Loss.Target];
            lossSum += Trainer.LossOf(_train.Loss.Kind, output, target).item<float>() * (double)len;
            if (classes is not null)
            {
                correct += output.argmax(-1).eq(target).sum().item<long>();
                counted += target.numel();
            }
        }
        return (lossSum / n, classes is not null ? (double)correct / counted : null);
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

    static string PrepareOutDir(string dir)
    {
        var full = Path.GetFullPath(dir);
        try
        {
            Directory.CreateDirectory(full);
            var probe = Path.Combine(full, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new SymDslException($"cannot write to output directory {full}: {e.Message}", e);
        }
        return full;
    }

    /// <summary>
    /// Checks that every model input has a data field of the same per-example shape and type, that the loss target
    /// exists and fits the output (labels within the class count for cross_entropy). Casts integer features to
    /// float32 for float inputs. Returns the number of classes (cross_entropy) and the output's per-example shape.
    /// </summary>
    (int? classes, IReadOnlyList<int> outputShape) Validate(ModelIR model, DataSet data)
    {
        string Shape(IEnumerable<long> s) => "[" + string.Join(", ", s) + "]";
        var fieldsList = string.Join(", ", data.Train.Keys);
        foreach (var input in model.Inputs)
        {
            if (!data.Train.TryGetValue(input.Name, out var field))
                throw new SymDslException($"data source {_train.Data.Kind} has no field \"{input.Name}\" for model input {input.Name} (fields: {fieldsList})");
            var fshape = field.shape.Skip(1).ToArray();
            var ishape = input.Shape.Select(d => (long)d).ToArray();
            if (!fshape.SequenceEqual(ishape))
            {
                // Same number of entries per example: a reshape (digits [64] read as [8, 8] rows by an RNN).
                if (fshape.Aggregate(1L, (a, d) => a * d) != ishape.Aggregate(1L, (a, d) => a * d))
                    throw new SymDslException($"data field \"{input.Name}\" has per-example shape {Shape(fshape)} but model input {input.Name} is declared {Shape(ishape)}");
                foreach (var split in new[] { data.Train, data.Test })
                    if (split.TryGetValue(input.Name, out var t)) { split[input.Name] = t.reshape([t.shape[0], .. ishape]).contiguous(); t.Dispose(); }
                field = data.Train[input.Name];
            }
            if (input.Type == ElementType.Float32 && field.dtype != ScalarType.Float32)
                foreach (var split in new[] { data.Train, data.Test })
                    if (split.TryGetValue(input.Name, out var t)) { split[input.Name] = t.to_type(ScalarType.Float32); t.Dispose(); }
            if (input.Type == ElementType.Int64 && field.is_floating_point())
                throw new SymDslException($"model input {input.Name} takes integer indices but data field \"{input.Name}\" holds floating-point values");
        }
        var outputIR = model.Outputs.FirstOrDefault(o => o.Name == _train.Loss.Output)
            ?? throw new SymDslException($"the loss uses output {_train.Loss.Output}, which model {model.Name} does not define");
        var outShape = model.Node(outputIR.Node).Shape;
        if (!data.Train.TryGetValue(_train.Loss.Target, out var target))
            throw new SymDslException($"data source {_train.Data.Kind} has no field \"{_train.Loss.Target}\" for the loss target (fields: {fieldsList})");
        var tshape = target.shape.Skip(1).ToArray();
        if (_train.Loss.Kind == "cross_entropy")
        {
            if (outShape.Count == 0) throw new SymDslException($"cross_entropy needs class logits, but output {outputIR.Name} is a scalar per example");
            var k = outShape[^1];
            if (!tshape.SequenceEqual(outShape.Take(outShape.Count - 1).Select(d => (long)d)))
                throw new SymDslException($"cross_entropy: label field \"{_train.Loss.Target}\" has per-example shape {Shape(tshape)} but output {outputIR.Name} {Shape(outShape.Select(d => (long)d))} needs {Shape(outShape.Take(outShape.Count - 1).Select(d => (long)d))}");
            foreach (var (splitName, split) in new[] { ("training", data.Train), ("test", data.Test) })
            {
                if (!split.TryGetValue(_train.Loss.Target, out var labels) || labels.numel() == 0) continue;
                if (labels.is_floating_point())
                    throw new SymDslException($"cross_entropy needs integer class labels, but field \"{_train.Loss.Target}\" holds floating-point values");
                var max = labels.max().item<long>();
                var min = labels.min().item<long>();
                if (min < 0 || max >= k)
                    throw new SymDslException($"label {(min < 0 ? min : max)} in the {splitName} data is outside the {k} classes of output {outputIR.Name} (labels must be 0..{k - 1})");
            }
            return (k, outShape);
        }
        if (_train.Loss.Kind == "mse")
        {
            if (!tshape.SequenceEqual(outShape.Select(d => (long)d)))
                throw new SymDslException($"mse: target field \"{_train.Loss.Target}\" has per-example shape {Shape(tshape)} but output {outputIR.Name} has shape {Shape(outShape.Select(d => (long)d))}");
            foreach (var split in new[] { data.Train, data.Test })
                if (split.TryGetValue(_train.Loss.Target, out var t) && t.dtype != ScalarType.Float32) { split[_train.Loss.Target] = t.to_type(ScalarType.Float32); t.Dispose(); }
            return (null, outShape);
        }
        throw new SymDslException($"unknown loss {_train.Loss.Kind} (cross_entropy, mse)");
    }
}
