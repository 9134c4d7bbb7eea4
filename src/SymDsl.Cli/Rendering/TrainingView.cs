using System.Globalization;
using Spectre.Console;
using SymDsl.IR;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Rendering;

/// <summary>Shows training: a live progress bar on a terminal, plain periodic lines otherwise (CI, pipes).</summary>
internal static class TrainingView
{
    /// <param name="prefix">Set when several runs train at once (--parallel): plain lines, each starting with it.</param>
    public static TrainResult Run(CliIO io, ProgramIR program, TrainIR train, TrainOptions options, IReadOnlyList<ITrainingObserver> observers, CancellationToken cancel,
        string? prefix = null)
    {
        if (io.IsTerminal && prefix is null)
        {
            TrainResult? result = null;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"[bold]{Markup.Escape(train.Model)}[/]", maxValue: 1);
                    result = Trainer.Run(program, train, options, p =>
                    {
                        task.MaxValue = Math.Max(1, p.TotalSteps);
                        task.Value = p.Step;
                        task.Description = $"[bold]{Markup.Escape(train.Model)}[/] epoch {p.Epoch + 1} loss {p.Loss.ToString("F4", CultureInfo.InvariantCulture)}";
                    }, cancel, observers);
                    task.Value = task.MaxValue;
                });
            return result!;
        }

        long lastPrinted = -1;
        var started = DateTime.UtcNow;
        return Trainer.Run(program, train, options, p =>
        {
            // About twenty lines per run, and always the last step.
            long every = Math.Max(1, p.TotalSteps / 20);
            if (p.Step == p.TotalSteps || p.Step / every != lastPrinted / every)
            {
                lastPrinted = p.Step;
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"{prefix}step {p.Step}/{p.TotalSteps} epoch {p.Epoch + 1} loss {p.Loss:F4} lr {p.LearningRate:G3} ({(DateTime.UtcNow - started).TotalSeconds:F1}s)");
                lock (io) io.Err.WriteLine(line);
            }
        }, cancel, observers);
    }

    /// <summary>One row per seed, then the mean and spread: a claim should hold on every seed, not on one.</summary>
    public static void PrintSeedTable(CliIO io, IReadOnlyList<(long Seed, TrainResult Result)> runs)
    {
        string Num(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
        var lines = new List<string[]> { new[] { "seed", "train_loss", "test_loss", "test_accuracy" } };
        foreach (var (seed, r) in runs)
            lines.Add([seed.ToString(CultureInfo.InvariantCulture), Num(r.TrainLoss), Num(r.TestLoss), r.TestAccuracy is { } a ? Num(a) : "-"]);
        string MeanStd(IEnumerable<double> xs) { var (m, s) = Sweeps.SweepReport.MeanSd(xs.ToList()); return $"{Num(m)} ± {Num(s)}"; }
        var accs = runs.Where(r => r.Result.TestAccuracy is not null).Select(r => r.Result.TestAccuracy!.Value).ToList();
        lines.Add(["mean ± sd", MeanStd(runs.Select(r => r.Result.TrainLoss)), MeanStd(runs.Select(r => r.Result.TestLoss)), accs.Count > 0 ? MeanStd(accs) : "-"]);

        PrintTable(io, lines);
    }

    /// <summary>A table whose first row is the header: a Spectre table on a terminal, tab-separated lines otherwise.</summary>
    public static void PrintTable(CliIO io, IReadOnlyList<string[]> lines)
    {
        if (io.IsTerminal)
        {
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var h in lines[0]) table.AddColumn(h);
            foreach (var row in lines.Skip(1)) table.AddRow(row.Select(Markup.Escape).ToArray());
            AnsiConsole.Write(table);
        }
        else
            foreach (var row in lines) io.Out.WriteLine(string.Join("\t", row));
    }

    public static void PrintSummary(CliIO io, TrainResult r)
    {
        var rows = new List<(string, string)>
        {
            ("steps", r.Steps.ToString(CultureInfo.InvariantCulture)),
            ("train_loss", r.TrainLoss.ToString("F4", CultureInfo.InvariantCulture)),
            ("test_loss", r.TestLoss.ToString("F4", CultureInfo.InvariantCulture)),
        };
        if (r.TestAccuracy is { } acc) rows.Add(("test_accuracy", acc.ToString("F4", CultureInfo.InvariantCulture)));
        rows.Add(("parameters", r.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)));
        rows.Add(("wall time", $"{r.WallSeconds.ToString("F1", CultureInfo.InvariantCulture)} s"));
        rows.Add(("run directory", DisplayPaths.Of(r.OutDir)));

        if (io.IsTerminal)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn("result").AddColumn(new TableColumn("value").RightAligned());
            foreach (var (k, v) in rows) table.AddRow(Markup.Escape(k), Markup.Escape(v));
            AnsiConsole.Write(table);
        }
        else
        {
            foreach (var (k, v) in rows) io.Out.WriteLine($"{k}: {v}");
        }
    }
}
