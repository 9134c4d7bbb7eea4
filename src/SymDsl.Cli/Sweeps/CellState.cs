using System.Text.Json;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Sweeps;

/// <summary>Where a cell stands, read from its run directory alone (so a local re-run, Slurm and --collect agree).</summary>
public enum CellStatus
{
    /// <summary>Nothing run yet (or a start that wrote no checkpoint).</summary>
    Pending,
    /// <summary>A checkpoint but no summary: an interrupted run; the next run resumes it.</summary>
    Interrupted,
    /// <summary>Another process holds the cell's run-directory lock right now.</summary>
    Running,
    /// <summary>summary.json exists: the run finished (summary.json is written last).</summary>
    Done,
    /// <summary>The last attempt exited with an error (DIR/CELL/error.txt); the next run retries it.</summary>
    Failed,
}

/// <summary>The files of a cell's run directory that the sweep reads and writes.</summary>
public static class CellFiles
{
    /// <summary>Everything every attempt at the cell printed, appended (one header line per attempt).</summary>
    public const string Log = "symc.log";
    /// <summary>Written when an attempt fails: its exit code and error line. Removed when the cell is tried again.</summary>
    public const string Error = "error.txt";
    public const string Checkpoint = "checkpoint.bin";
    public const string Lock = ".lock";

    public static CellStatus StatusOf(string cellDir)
    {
        if (File.Exists(Path.Combine(cellDir, Trainer.SummaryFileName))) return CellStatus.Done;
        if (IsLocked(cellDir)) return CellStatus.Running;
        if (File.Exists(Path.Combine(cellDir, Error))) return CellStatus.Failed;
        if (File.Exists(Path.Combine(cellDir, Checkpoint))) return CellStatus.Interrupted;
        return CellStatus.Pending;
    }

    /// <summary>The status as the CSV and the table write it.</summary>
    public static string Word(CellStatus s) => s switch
    {
        CellStatus.Pending => "pending",
        CellStatus.Interrupted => "interrupted",
        CellStatus.Running => "running",
        CellStatus.Done => "done",
        CellStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    /// <summary>True when a training run holds DIR/.lock (the kernel's flock, released whenever that process ends).</summary>
    public static bool IsLocked(string cellDir)
    {
        var path = Path.Combine(cellDir, Lock);
        if (!File.Exists(path)) return false;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException) { return true; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>The error line of the last failed attempt ("exit 1: symc: error: …"), or null.</summary>
    public static string? ErrorOf(string cellDir)
    {
        var path = Path.Combine(cellDir, Error);
        try { return File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
        catch (IOException) { return null; }
    }

    /// <summary>
    /// The error line of a failed attempt from what it printed: the last "symc: error: …" or "symc: internal error: …"
    /// line, else the first <c>FILE:LINE:COL: error SYMnnnn</c> diagnostic, else the last non-empty line.
    /// </summary>
    public static string ErrorLine(int exitCode, IReadOnlyList<string> output)
    {
        var line = output.LastOrDefault(l => l.StartsWith("symc: error:", StringComparison.Ordinal) || l.StartsWith("symc: internal error:", StringComparison.Ordinal))
            ?? output.FirstOrDefault(l => l.Contains(": error SYM", StringComparison.Ordinal)) // the model's first diagnostic
            ?? output.LastOrDefault(l => !string.IsNullOrWhiteSpace(l))
            ?? "(no output)";
        return $"exit {exitCode}: {line.Trim()}";
    }

    /// <summary>Final numbers of a finished cell: summary.json's numbers, then the last value of each diagnostic in metrics.jsonl.</summary>
    public static (Dictionary<string, double> Metrics, double? WallSeconds, long? Steps) Results(string cellDir)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        double? wall = null;
        long? steps = null;
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(cellDir, Trainer.SummaryFileName))))
        {
            foreach (var key in SummaryMetrics)
                if (doc.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number) metrics[key] = v.GetDouble();
            if (doc.RootElement.TryGetProperty("wall_seconds", out var w) && w.ValueKind == JsonValueKind.Number) wall = w.GetDouble();
            if (doc.RootElement.TryGetProperty("steps", out var s) && s.ValueKind == JsonValueKind.Number) steps = s.GetInt64();
        }
        var metricsPath = Path.Combine(cellDir, "metrics.jsonl");
        if (File.Exists(metricsPath))
        {
            // Reports.Series keeps every finite value in step order: the last one is the final value.
            foreach (var (key, points) in Reports.Series(File.ReadLines(metricsPath).Where(l => !string.IsNullOrWhiteSpace(l))))
                if (!NotDiagnostics.Contains(key) && points.Count > 0) metrics[key] = points[^1].value;
        }
        return (metrics, wall, steps);
    }

    /// <summary>summary.json's final numbers, in the order the CSV lists them.</summary>
    public static readonly string[] SummaryMetrics = ["train_loss", "test_loss", "test_accuracy"];

    /// <summary>metrics.jsonl keys that are not final results (the step counter, batch loss, learning rate, epoch-end evaluations).</summary>
    static readonly HashSet<string> NotDiagnostics = ["epoch", "loss", "lr", "test_loss", "test_accuracy"];
}
