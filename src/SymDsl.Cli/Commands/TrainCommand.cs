using System.CommandLine;
using SymDsl.Cli.Rendering;
using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Commands;

/// <summary><c>symc train FILE</c>: build, then train a train block; metrics, summary, checkpoints, plots and a report in --out.</summary>
internal static class TrainCommand
{
    public static Command Create(CliIO io)
    {
        var file = CommonOptions.SourceFile();
        var set = CommonOptions.Set();
        var maxBytes = CommonOptions.MaxParameterBytes();
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "Run directory (default: runs/<file name>)." };
        var epochs = new Option<int?>("--epochs") { Description = "Override the number of epochs." };
        var steps = new Option<int?>("--steps") { Description = "Override the number of steps (takes precedence over epochs)." };
        var seed = new Option<long?>("--seed") { Description = "Override the seed." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the last checkpoint in the run directory." };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "Write a checkpoint every N steps (besides the one at the end)." };
        var trainName = new Option<string?>("--train") { Description = "Which train block to run, by model name, when the file has several (default: the first)." };

        var command = new Command("train", "Check and build a .sym file, then train it.")
        {
            file, outDir, epochs, steps, seed, set, resume, device, checkpointEvery, trainName, maxBytes,
        };
        command.SetAction((parse, cancel) =>
        {
            var source = parse.GetValue(file)!;
            var options = new CompileOptions(CommonOptions.ParseAssignments(parse.GetValue(set)), parse.GetValue(maxBytes));
            var compilation = CompileStep.Run(io, source, options);
            if (compilation is null) return Task.FromResult(ExitCodes.InputError);
            var program = compilation.Program!;
            var train = PickTrain(program, parse.GetValue(trainName));

            string dir = parse.GetValue(outDir)?.FullName ?? Path.Combine(Environment.CurrentDirectory, "runs", Path.GetFileNameWithoutExtension(source.Name));
            var artifacts = BuildCommand.Write(compilation, Path.Combine(dir, "build"));
            string? report = artifacts.FirstOrDefault(p => p.EndsWith(".md", StringComparison.OrdinalIgnoreCase)) is { } md ? File.ReadAllText(md) : null;

            var trainOptions = new TrainOptions(
                OutDir: dir,
                Epochs: parse.GetValue(epochs),
                Steps: parse.GetValue(steps),
                Seed: parse.GetValue(seed),
                Device: parse.GetValue(device)!,
                Resume: parse.GetValue(resume),
                CheckpointEvery: parse.GetValue(checkpointEvery),
                SymmetryReportMarkdown: report);

            io.Err.WriteLine($"training {train.Model} from {CompileStep.DisplayPath(source)} → {DisplayPaths.Of(dir)}");
            var result = TrainingView.Run(io, program, train, trainOptions, cancel);
            TrainingView.PrintSummary(io, result);
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    static TrainIR PickTrain(ProgramIR program, string? name)
    {
        if (program.Trains.Count == 0)
            throw new SymDslException($"{program.SourcePath} has no train block; add `train {program.Models.FirstOrDefault()?.Name ?? "MODEL"} {{ … }}`");
        if (name is null) return program.Trains[0];
        return program.Trains.FirstOrDefault(t => t.Model == name)
            ?? throw new SymDslException($"no train block for model '{name}'; the file trains: {string.Join(", ", program.Trains.Select(t => t.Model))}");
    }
}
