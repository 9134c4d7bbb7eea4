using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// Where a derived run came from (run.json's <c>derived_from</c>): the command that wrote it, the run directories it read
/// (full paths), and what else the command wants recorded (its method, alpha, the permutation spaces, …).
/// </summary>
internal sealed record DerivedFrom(string Command, IReadOnlyList<string> Runs)
{
    public Dictionary<string, string> Details { get; init; } = new();
}

/// <summary>
/// A run directory made from another run's model with other weights (<c>symc align</c>'s permuted B, <c>symc merge</c>'s
/// average, <c>symc canon</c>'s canonical representative): run.json (the source run's source file, overrides, model, train
/// block and seed, plus <see cref="DerivedFrom"/>), checkpoint.bin (format <see cref="Checkpoint.Version"/>, with the train
/// block's reparametrisations, so <see cref="SymDsl.Torch.Diagnostics.RunComparison.Load"/> and <c>--resume</c> read it)
/// and weights.dat (<see cref="WeightsExport"/>). <c>symc compare</c>, <c>sample</c> and <c>eval</c> read it like a trained
/// run. It has no metrics.jsonl and no summary.json (it was not trained).
/// </summary>
internal static class DerivedRun
{
    /// <summary>
    /// Writes <paramref name="outDir"/> from <paramref name="sourceRunDir"/>'s manifest and checkpoint metadata, with the
    /// effective parameters <paramref name="parameters"/> (by logical name, every parameter of the model; any dtype, stored
    /// in the model's float32) and the layer buffers <paramref name="buffers"/> (by logical name, e.g. "bn.running_mean";
    /// those not given keep the source checkpoint's values). Returns the model and train block it rebuilt.
    /// Nothing is written when a parameter is missing or mis-shaped (a <see cref="SymDslException"/>).
    /// </summary>
    public static (ModelIR Model, TrainIR Train) Write(string sourceRunDir, string outDir, IReadOnlyDictionary<string, Tensor> parameters,
        IReadOnlyDictionary<string, Tensor>? buffers, DerivedFrom provenance)
    {
        var manifest = RunManifest.Read(sourceRunDir);
        var (model, train) = manifest.Rebuild();
        var sourceCheckpoint = Path.Combine(sourceRunDir, Checkpoint.FileName);
        if (!File.Exists(sourceCheckpoint)) throw new SymDslException($"{sourceRunDir} holds no checkpoint ({Checkpoint.FileName}); train it first");
        if (Path.GetFullPath(sourceRunDir).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new SymDslException($"--out {outDir} is the source run itself; write the derived run to another directory");
        var missing = model.Parameters.Select(p => p.Name).Where(n => !parameters.ContainsKey(n)).ToList();
        if (missing.Count > 0) throw new SymDslException($"derived run of {model.Name}: no values for parameter(s) {string.Join(", ", missing)}");

        using var scope = NewDisposeScope();
        using var m = new SymModel(model, Trainer.Reparametrisations(train, model), manifest.Seed ?? train.Seed);
        // Start from the source's state (θ₀ offsets, buffers), then set the new effective values.
        var meta = Checkpoint.Load(sourceCheckpoint, m, null);
        using (no_grad())
        {
            m.SetEffectiveParameters(parameters.Where(kv => model.Parameters.Any(p => p.Name == kv.Key))
                .ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(m.ParameterDType)));
            if (buffers is not null)
            {
                var live = m.Buffers();
                m.SetBuffers(buffers.ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(live.TryGetValue(kv.Key, out var b) ? b.dtype : kv.Value.dtype)));
            }
        }
        try { Directory.CreateDirectory(outDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Reports.CannotWrite(outDir, e); }
        Checkpoint.Save(Path.Combine(outDir, Checkpoint.FileName), m, null,
            meta with { MetricsLineCount = 0, MetricsSha256 = MetricsLog.HashOf([]), WallSeconds = 0 });
        WeightsExport.Write(model, m, outDir);
        (manifest with { DerivedFrom = provenance with { Runs = provenance.Runs.Select(Path.GetFullPath).ToList() } }).Write(outDir);
        return (model, train);
    }
}
