using SymDsl.IR;

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
    /// </summary>
    public static TrainResult Run(ProgramIR program, TrainIR train, TrainOptions options, Action<TrainProgress>? progress = null, CancellationToken cancel = default)
        => throw new NotImplementedException("runner: issue 4");
}
