using SymDsl.IR;
using SymDsl.Text;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// RUN/weights.dat: the trained model's effective parameters (P = θ + θ₀ for syre, u ⊙ v or U Vᵀ for induce), in float32,
/// under the state_dict keys of the generated C# module, in TorchSharp's own format: <c>new Mlp().load("weights.dat")</c>.
/// Written atomically at the end of a run (as an observer, so before the trainer's summary.json, which marks the run
/// complete), from the trained model, whose state is the run's final checkpoint.
/// </summary>
internal sealed class WeightsExport : ITrainingObserver
{
    public const string FileName = "weights.dat";

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics) { }

    public void OnEnd(TrainingContext context, TrainSummary summary) => Write(context.ModelIR, context.Model, context.OutDir);

    public static string Write(ModelIR model, SymModel trained, string runDir)
    {
        string path = Path.Combine(runDir, FileName);
        using var scope = NewDisposeScope();
        using var plain = new SymModel(model);
        using (no_grad())
        {
            plain.SetEffectiveParameters(trained.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32)));
            plain.SetBuffers(trained.Buffers()); // a BatchNorm's running statistics (copied with the buffer's own dtype)
        }
        try
        {
            AtomicFile.WriteVia(path, tmp => plain.save(tmp));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Reports.CannotWrite(path, e);
        }
        return path;
    }
}
