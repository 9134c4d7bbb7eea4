using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>
/// Everything a run is made of before its first step: the run directory (locked), the data, the model, the optimizer,
/// the run's length and intervals, and, on <c>--resume</c>, the verified checkpoint loaded (its step, wall time and
/// metrics.jsonl lines). Made by <see cref="Prepare"/>; the tensors and files it creates are disposed with the run
/// (<see cref="Owned"/>).
/// </summary>
sealed class RunSetup
{
    public required RunLock Lock { get; init; }
    public string OutDir => Lock.Directory;
    public required ModelIR ModelIR { get; init; }
    public required Device Device { get; init; }
    public required long Seed { get; init; }
    public required DataSet Data { get; init; }
    public required int? Classes { get; init; }
    public required SymModel Model { get; init; }
    public required OptimizerHelper Optimizer { get; init; }
    public required Dictionary<string, Tensor> TrainFields { get; init; }
    public required Dictionary<string, Tensor> TestFields { get; init; }
    public required int TrainCount { get; init; }
    public required int Batch { get; init; }
    public required int StepsPerEpoch { get; init; }
    public required long TotalSteps { get; init; }
    public required Schedule Schedule { get; init; }
    public required int? CheckpointEvery { get; init; }
    public required int LogEvery { get; init; }
    public required RunSpec Spec { get; init; }
    public string CheckpointPath => Path.Combine(OutDir, Checkpoint.FileName);
    public string MetricsPath => Path.Combine(OutDir, MetricsLog.FileName);

    /// <summary>Whether the run continues from a checkpoint (<c>--resume</c>).</summary>
    public bool Resumed { get; private set; }
    /// <summary>The step the run starts at (the checkpoint's on a resume, else 0).</summary>
    public long StartStep { get; private set; }
    /// <summary>The wall time of the run's earlier processes (the checkpoint's on a resume, else 0).</summary>
    public double PreviousWallSeconds { get; private set; }
    /// <summary>The metrics.jsonl lines the run starts with (the checkpoint's on a resume), already added to <see cref="Log"/>.</summary>
    public List<string> Lines { get; } = new();
    /// <summary>The count and SHA-256 of the metrics.jsonl lines so far (recorded in each checkpoint).</summary>
    public MetricsLog Log { get; } = new();

    /// <summary>
    /// Locks the run directory, loads the data, builds the model and the optimizer and, on a resume, verifies and loads
    /// the checkpoint and the metrics.jsonl lines it recorded (nothing in the directory is written before that). Every
    /// disposable it creates is added to <paramref name="owned"/> as soon as it exists.
    /// </summary>
    public static RunSetup Prepare(ProgramIR program, TrainIR train, TrainOptions options, List<IDisposable> owned)
    {
        // One run at a time per directory: the lock is held until the run ends (or its process dies).
        var runLock = options.Lock ?? RunLock.Acquire(options.OutDir, options.Resume);
        if (options.Lock is null) owned.Add(runLock);
        else if (runLock.Directory != Path.GetFullPath(options.OutDir))
            throw new ArgumentException($"the lock given is on {runLock.Directory}, not on the run directory {options.OutDir}");
        var modelIR = program.Models.Any(m => m.Name == train.Model) ? program.ModelFor(train)
            : throw new SymDslException($"train block names model {train.Model}, which the program does not define");
        var device = SelectDevice(options.Device);
        var seed = options.Seed ?? train.Seed;

        // Every random draw of the run comes from generators seeded here (model initialisation and θ₀: SymModel's own
        // Generator; data splits, synthetic data and the shuffle: DataSources); torch's global generator is not used.
        var data = DataSources.Load(train.Data, seed);
        owned.Add(data);
        var (classes, _) = Evaluation.Validate(modelIR, train, data);

        var model = new SymModel(modelIR, Trainer.Reparametrisations(train, modelIR), seed);
        owned.Add(model);
        model.to(device);
        var optimizer = Trainer.BuildOptimizer(model, train.Optimizer);
        owned.Add(optimizer);
        var baseLr = train.Optimizer.Args.Double("lr", train.Optimizer.Kind == "sgd" ? 0.01 : 1e-3);

        var nTrain = (int)data.TrainCount;
        var batch = Math.Max(1, Math.Min(train.Batch, nTrain));
        var stepsPerEpoch = (nTrain + batch - 1) / batch;
        if ((batch == 1 || nTrain % batch == 1) && NeedsSeveralExamples(modelIR) is { } bn)
            throw new SymDslException($"{bn} takes its statistics over the batch, but {(batch == 1 ? "every batch" : $"the last batch of each epoch ({nTrain} training rows, batch {batch})")} holds a single example; choose another batch size");
        long total = options.Steps ?? (options.Epochs is { } e ? (long)e * stepsPerEpoch : train.Steps ?? (train.Epochs is { } te ? (long)te * stepsPerEpoch
            : throw new SymDslException("the train block sets neither epochs nor steps")));
        if (total < 1) throw new SymDslException($"nothing to train: {total} steps");

        var setup = new RunSetup
        {
            Lock = runLock, ModelIR = modelIR, Device = device, Seed = seed, Data = data, Classes = classes, Model = model,
            Optimizer = optimizer, TrainFields = OnDevice(data.Train, device, owned), TestFields = OnDevice(data.Test, device, owned),
            TrainCount = nTrain, Batch = batch, StepsPerEpoch = stepsPerEpoch, TotalSteps = total,
            Schedule = new Schedule(train.Schedule, baseLr, total),
            CheckpointEvery = options.CheckpointEvery ?? train.CheckpointEvery, LogEvery = Math.Max(1, train.LogEvery),
            Spec = RunSpec.Of(train, data),
        };
        owned.Add(setup.Log);
        if (options.Resume)
        {
            // Validate first, write after: nothing in the run directory changes before the checkpoint has been verified
            // (checksum), compared with this run (model, parameters, seed, settings, data, length) and loaded.
            var file = Checkpoint.Open(setup.CheckpointPath);
            var warnings = Checkpoint.CheckResume(setup.CheckpointPath, file.Meta, model, seed, setup.Spec, total, (t, s) => new Schedule(train.Schedule, baseLr, t).At(s));
            setup.Lines.AddRange(setup.Log.ReadVerified(setup.MetricsPath, setup.CheckpointPath, file.Meta)); // its first N lines must be the checkpoint's
            file.Restore(model, optimizer);
            foreach (var w in warnings) options.Warn?.Invoke(w);
            setup.Resumed = true;
            setup.StartStep = file.Meta.Step;
            setup.PreviousWallSeconds = file.Meta.WallSeconds;
        }
        return setup;
    }

    /// <summary>A layer that cannot take a batch of one example where it is applied (a BatchNorm on [C]: its statistics are
    /// over the batch alone), as "Kind 'name'"; null when there is none.</summary>
    static string? NeedsSeveralExamples(ModelIR model)
        => model.Nodes.Where(n => n.Op == OpKind.Layer).Select(n => (Node: n, Layer: model.Layer(n.Attr("layer"))))
            .Where(a => Vocabulary.LayerDefinition.Of(a.Layer.Kind).NeedsSeveralExamples(model.Node(a.Node.Inputs[0]).Shape))
            .Select(a => $"{a.Layer.Kind} '{a.Layer.Name}'").FirstOrDefault();

    static Dictionary<string, Tensor> OnDevice(Dictionary<string, Tensor> fields, Device device, List<IDisposable> owned)
    {
        if (device.type == DeviceType.CPU) return fields;
        var moved = fields.ToDictionary(kv => kv.Key, kv => kv.Value.to(device));
        foreach (var t in moved.Values) owned.Add(t);
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
}
