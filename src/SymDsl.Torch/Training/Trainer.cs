using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
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
