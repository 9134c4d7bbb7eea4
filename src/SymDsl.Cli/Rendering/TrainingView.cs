using System.Globalization;
using Spectre.Console;
using SymDsl.IR;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Rendering;

/// <summary>Shows training: a live progress bar on a terminal, plain periodic lines otherwise (CI, pipes).</summary>
internal static class TrainingView
{
    public static TrainResult Run(CliIO io, ProgramIR program, TrainIR train, TrainOptions options, CancellationToken cancel)
    {
        if (io.IsTerminal)
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
                        task.Description = $"[bold]{Markup.Escape(train.Model)}[/] epoch {p.Epoch} loss {p.Loss.ToString("F4", CultureInfo.InvariantCulture)}";
                    }, cancel);
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
                io.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch} loss {p.Loss:F4} lr {p.LearningRate:G3} ({(DateTime.UtcNow - started).TotalSeconds:F1}s)"));
            }
        }, cancel);
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
