using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SymDsl.Cli.Rendering;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Text;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Runtime;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc eval RUN [--data SOURCE] [--split test|train|all]</c>: scores a run's final weights (RUN/checkpoint.bin, as the
/// trainer left them) in evaluation mode with <see cref="Evaluation"/>, the trainer's own metrics: the train block's loss,
/// accuracy when the loss takes class labels, per-class accuracy. Prints a table and writes RUN/eval.json (or --out).
/// On the run's own test split it gives summary.json's test_loss and test_accuracy.
/// </summary>
internal static class EvalCommand
{
    public const string FileName = "eval.json";

    /// <summary>The splits <c>--split</c> takes, in the order rows are printed.</summary>
    static readonly string[] Splits = ["train", "test", "all"];

    public static Command Create(CliIO io)
    {
        var run = new Argument<DirectoryInfo>("RUN") { Description = "A run directory with run.json and checkpoint.bin (written by symc train, or a derived run)." };
        var data = new Option<string?>("--data") { Description = "Another data source, written as in a train block, e.g. 'csv(\"other.csv\", label = \"y\")' or fashion_mnist; relative paths are relative to the current directory. Default: the run's own." };
        var split = new Option<string?>("--split") { Description = "Which split to score: test (default; the training split when the data have no test split), train, or all (both, and both together)." };
        split.AcceptOnlyFromAmong(Splits);
        var json = new Option<bool>("--json") { Description = "Print eval.json's content instead of the table." };
        var outFile = new Option<FileInfo?>("--out", "-o") { Description = $"Where to write the scores (default: RUN/{FileName})." };

        var command = new Command("eval", "Score a trained run's final weights (loss, accuracy, per-class accuracy) on its own test split or on another data source.") { run, data, split, json, outFile };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(run)!.FullName;
            var manifest = RunManifest.Read(dir);
            var dataText = parse.GetValue(data);
            ModelIR model;
            TrainIR train;
            if (dataText is null) (model, train) = manifest.Rebuild();
            else if (Rebuild(io, manifest, dataText) is { } rebuilt) (model, train) = rebuilt;
            else return ExitCodes.InputError;

            var seed = manifest.Seed ?? train.Seed;
            using var scope = NewDisposeScope();
            using var dataSet = LoadData(model, train, seed, out var classes);
            var asked = parse.GetValue(split);
            if (asked == "test" && dataSet.TestCount == 0)
                throw new SymDslException($"data source {train.Data.Kind} has no test split here; score the training split with --split train");
            var chosen = asked is null ? [dataSet.TestCount > 0 ? "test" : "train"] : asked == "all" ? ["train", "test", "all"] : new[] { asked };
            if (asked is null && dataSet.TestCount == 0) io.Err.WriteLine($"symc: note: data source {train.Data.Kind} has no test split; scoring the training split");

            using var trained = RunComparison.Load(model, dir, train, ScalarType.Float32); // as the trainer evaluated it
            var scores = new List<(string Split, EvalScores Scores)>();
            foreach (var name in chosen)
            {
                if (name == "all") { scores.Add(("all", Combine(scores.Select(s => s.Scores).ToList()))); continue; }
                var fields = name == "test" ? dataSet.Test : dataSet.Train;
                if (fields.Count == 0 || fields.Values.First().shape[0] == 0) { scores.Add((name, new EvalScores(0, double.NaN, null, null))); continue; }
                scores.Add((name, Evaluation.Score(trained, train, fields, classes, perClass: true)));
            }

            var report = new EvalReport(dir, manifest.Model, train.Name, train.Data.Kind, dataText, seed, train.Loss.Kind,
                scores.Select(s => SplitReport.Of(s.Split, s.Scores, dataSet.ClassNames)).ToList());
            var text = JsonSerializer.Serialize(report, Json);
            var path = parse.GetValue(outFile)?.FullName ?? Path.Combine(dir, FileName);
            try { AtomicFile.WriteAllText(path, text + "\n"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Reports.CannotWrite(path, e); }

            if (parse.GetValue(json)) io.Out.WriteLine(text);
            else Print(io, report);
            io.Err.WriteLine($"symc: wrote {DisplayPaths.Of(path)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The run's model and train block with <paramref name="dataText"/> as its data; null after printing the diagnostics.</summary>
    static (ModelIR, TrainIR)? Rebuild(CliIO io, RunManifest manifest, string dataText)
    {
        var compilation = DataSourceOverride.Compile(manifest.Source, new CompileOptions(manifest.Overrides), manifest.Train, manifest.Model, dataText, Environment.CurrentDirectory);
        if (compilation.HasErrors || compilation.Program is null)
        {
            // Diagnostics in the data source are located in it (--data:1:COL); those the new data cause in the run's file
            // (its loss, say) are located there.
            foreach (var d in compilation.Diagnostics.Where(d => d.Span.File == DataSourceOverride.OriginName)) io.Err.WriteLine(d.ToString());
            DiagnosticPrinter.Print(io, compilation with { Diagnostics = compilation.Diagnostics.Where(d => d.Span.File != DataSourceOverride.OriginName).ToList() },
                DiagnosticFormat.Text, DisplayPaths.Of(manifest.Source));
            io.Err.WriteLine($"symc: cannot score the run on --data {dataText} (errors above)");
            return null;
        }
        var program = compilation.Program;
        var train = manifest.Train is { } name ? program.Train(name) : program.Trains.First(t => t.Model == manifest.Model);
        return (program.Model(manifest.Model), train);
    }

    /// <summary>The train block's data, loaded with the run's seed (the same split) and prepared as the trainer prepares it.</summary>
    static DataSet LoadData(ModelIR model, TrainIR train, long seed, out int? classes)
    {
        using var setup = NativeSection.Enter();
        var data = DataSources.Load(train.Data, seed);
        try
        {
            (classes, _) = Evaluation.Validate(model, train, data);
            return data;
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>Two splits' scores as one: the loss weighted by examples, the accuracy over all label positions.</summary>
    static EvalScores Combine(IReadOnlyList<EvalScores> parts)
    {
        parts = parts.Where(p => p.Examples > 0).ToList();
        var n = parts.Sum(p => p.Examples);
        if (n == 0) return new EvalScores(0, double.NaN, null, null);
        var loss = parts.Sum(p => p.Loss * p.Examples) / n;
        if (parts.Any(p => p.PerClass is null)) return new EvalScores(n, loss, null, null);
        var perClass = parts[0].PerClass!.Select((c, i) => new ClassScore(c.Class, parts.Sum(p => p.PerClass![i].Count), parts.Sum(p => p.PerClass![i].Correct))).ToList();
        var counted = perClass.Sum(c => c.Count);
        return new EvalScores(n, loss, counted > 0 ? (double)perClass.Sum(c => c.Correct) / counted : null, perClass);
    }

    static void Print(CliIO io, EvalReport report)
    {
        string Num(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("F4", CultureInfo.InvariantCulture) : "-";
        io.Out.WriteLine($"{report.Model} ({report.Train}) on {report.DataSource ?? report.Data}, seed {report.Seed}");
        var rows = new List<string[]> { new[] { "split", "examples", report.Loss, "accuracy" } };
        foreach (var s in report.Splits) rows.Add([s.Split, s.Examples.ToString(CultureInfo.InvariantCulture), Num(s.Loss), Num(s.Accuracy)]);
        TrainingView.PrintTable(io, rows);

        var withClasses = report.Splits.Where(s => s.PerClass is not null).ToList();
        if (withClasses.Count == 0) return;
        var named = withClasses[0].PerClass!.Any(c => c.Name is not null);
        var header = new List<string> { "class" };
        if (named) header.Add("name");
        foreach (var s in withClasses) { header.Add($"{s.Split} count"); header.Add($"{s.Split} accuracy"); }
        var perClass = new List<string[]> { header.ToArray() };
        for (var i = 0; i < withClasses[0].PerClass!.Count; i++)
        {
            if (withClasses.All(s => s.PerClass![i].Count == 0)) continue; // a class no split holds (a byte model's unused bytes)
            var row = new List<string> { withClasses[0].PerClass![i].Class.ToString(CultureInfo.InvariantCulture) };
            if (named) row.Add(withClasses[0].PerClass![i].Name ?? "");
            foreach (var s in withClasses) { row.Add(s.PerClass![i].Count.ToString(CultureInfo.InvariantCulture)); row.Add(Num(s.PerClass![i].Accuracy)); }
            perClass.Add(row.ToArray());
        }
        io.Out.WriteLine();
        TrainingView.PrintTable(io, perClass);
    }

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>eval.json.</summary>
    internal sealed record EvalReport(string Run, string Model, string Train, string Data, string? DataSource, long Seed, string Loss, IReadOnlyList<SplitReport> Splits);

    internal sealed record SplitReport(string Split, long Examples, double Loss, double? Accuracy, IReadOnlyList<ClassReport>? PerClass)
    {
        public static SplitReport Of(string split, EvalScores s, IReadOnlyList<string>? names) =>
            new(split, s.Examples, s.Loss, s.Accuracy,
                s.PerClass?.Select(c => new ClassReport(c.Class, names is not null && c.Class < names.Count ? names[c.Class] : null, c.Count, c.Correct, c.Accuracy)).ToList());
    }

    internal sealed record ClassReport(int Class, string? Name, long Count, long Correct, double? Accuracy);
}
