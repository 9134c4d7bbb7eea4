using System.Text.Json;
using SymDsl.Diagnostics;
using TorchSharp;

namespace SymDsl.Torch.Training;

/// <summary>
/// DIR/tensorboard/ (TorchSharp's SummaryWriter): the numbers of every metrics.jsonl line, fed by
/// <see cref="MetricsLogWriter"/> as it writes each line, so TensorBoard holds exactly metrics.jsonl's scalars.
/// </summary>
sealed class TensorBoardWriter
{
    readonly TorchSharp.Modules.SummaryWriter _writer;

    /// <summary>
    /// A new tensorboard/ holding the scalars of <paramref name="lines"/> (the metrics so far: none for a new run, the
    /// checkpoint's after a resume), so that no step is missing or appears twice however often a run is resumed.
    /// </summary>
    public TensorBoardWriter(string outDir, IReadOnlyList<string> lines)
    {
        LogDir = Path.Combine(outDir, "tensorboard");
        try
        {
            if (Directory.Exists(LogDir)) Directory.Delete(LogDir, recursive: true);
            _writer = torch.utils.tensorboard.SummaryWriter(LogDir, "", false);
            foreach (var line in lines) AddScalars(line);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"cannot write {LogDir}: {e.Message}", e);
        }
    }

    public string LogDir { get; }

    /// <summary>Adds one metrics.jsonl line; a failed write is one line naming the directory.</summary>
    public void Add(string line)
    {
        try { AddScalars(line); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Reports.CannotWrite(LogDir, e);
        }
    }

    /// <summary>The finite numbers of one metrics.jsonl line, but step and epoch, as TensorBoard scalars at its step.</summary>
    void AddScalars(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var step = doc.RootElement.GetProperty("step").GetInt64();
        foreach (var p in doc.RootElement.EnumerateObject())
            if (p.Name is not ("step" or "epoch") && p.Value.ValueKind == JsonValueKind.Number && p.Value.GetDouble() is var d && double.IsFinite(d))
                _writer.add_scalar(p.Name, (float)d, (int)step);
    }
}
