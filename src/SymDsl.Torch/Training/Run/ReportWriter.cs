using System.Text.Json;
using System.Text.Json.Serialization;

namespace SymDsl.Torch.Training;

/// <summary>
/// The end of a run's files: plots/*.png (one per numeric metrics.jsonl key), report.html, then summary.json, last and
/// atomically, so a run directory holds summary.json only if its run finished (a stale one is deleted when the run starts).
/// Its <see cref="OnEnd"/> runs after every other observer's (their files, e.g. the CLI's weights.dat, come first) and
/// outside the no-GC section (plotting allocates).
/// </summary>
sealed class ReportWriter(RunSetup run, MetricsLogWriter metrics, string title, string? symmetryReportMarkdown) : ITrainingObserver
{
    static readonly JsonSerializerOptions JsonIndented = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    string SummaryPath => Path.Combine(run.OutDir, Trainer.SummaryFileName);

    public void OnStart(TrainingContext context)
    {
        // summary.json marks a complete run (it is written last): a stale one from an earlier run in this directory goes now.
        try { File.Delete(SummaryPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Reports.CannotWrite(SummaryPath, e);
        }
    }

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> values) { }

    public void OnEnd(TrainingContext context, TrainSummary summary)
    {
        var json = new Dictionary<string, object?>(summary.Values) { ["events"] = summary.Events };
        var plots = Reports.WritePlots(run.OutDir, metrics.Lines);
        Reports.WriteHtml(run.OutDir, title, summary, plots, symmetryReportMarkdown);
        Reports.WriteAtomically(SummaryPath, JsonSerializer.Serialize(json, JsonIndented));
    }
}
