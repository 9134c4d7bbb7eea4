using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// RUN/weights.dat: the trained model's effective parameters (P = θ + θ₀ for syre, u ⊙ v or U Vᵀ for induce), in float32,
/// under the state_dict keys of the generated C# module, in TorchSharp's own format: <c>new Mlp().load("weights.dat")</c>.
/// Written atomically from the run's final checkpoint.
/// </summary>
internal static class WeightsExport
{
    public const string FileName = "weights.dat";

    public static string Write(ModelIR model, TrainIR train, string runDir)
    {
        string path = Path.Combine(runDir, FileName);
        string tmp = Path.Combine(runDir, $".{FileName}.{Environment.ProcessId}.tmp");
        using var scope = NewDisposeScope();
        using var trained = RunComparison.Load(model, runDir, train);
        using var plain = new SymModel(model);
        using (no_grad())
            plain.SetEffectiveParameters(trained.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32)));
        try
        {
            plain.save(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"cannot write {path}: {e.Message}");
        }
        return path;
    }
}
