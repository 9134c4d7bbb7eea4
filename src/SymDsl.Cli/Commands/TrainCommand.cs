using System.CommandLine;
using SymDsl.Cli.Rendering;
using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Torch.Diagnostics;
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
        var epochs = CommonOptions.OptionalCount("--epochs", "Override the number of epochs.");
        var steps = CommonOptions.OptionalCount("--steps", "Override the number of steps (takes precedence over epochs).");
        var seed = new Option<long?>("--seed") { Description = "Override the seed.", CustomParser = CommonOptions.Seed };
        var resume = new Option<bool>("--resume") { Description = "Continue from the last checkpoint in the run directory." };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var checkpointEvery = CommonOptions.OptionalCount("--checkpoint-every", "Write a checkpoint every N steps (besides the one at the end).");
        var trainName = CommonOptions.TrainName();
        var threads = CommonOptions.OptionalCount("--threads", "CPU threads libtorch may use (default: libtorch's own choice, one per core). Small models on a busy machine often train faster with 1.", max: 1024);
        var seeds = new Option<string?>("--seeds") { Description = "Train once per seed, e.g. --seeds 1,2,3; each run goes to DIR/seed-N and a table compares them." };
        seeds.Validators.Add(r =>
        {
            try { ParseSeeds(r.GetValueOrDefault<string?>()); }
            catch (SymDslException e) { r.AddError(e.Message); }
        });
        var parallel = new Option<int?>("--parallel") { Description = "With --seeds: train N seeds at a time in this process (each gives exactly its result alone)." };
        parallel.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--parallel must be at least 1"); });
        var diagnosticsMode = new Option<string>("--diagnostics") { Description = "Where the diagnose metrics are computed: inline (in the training step) or background (from a snapshot, on another thread while training goes on; the same values).", DefaultValueFactory = _ => "inline" };
        diagnosticsMode.AcceptOnlyFromAmong("inline", "background");
        var initFrom = new Option<FileInfo?>("--init-from") { Description = "Start from these weights instead of the seed's initialisation: a PyTorch state_dict (torch.save) or a .safetensors file with weights.dat's keys (docs/weights.md)." };

        var command = new Command("train", "Check and build a .sym file, then train it.")
        {
            file, outDir, epochs, steps, seed, seeds, parallel, set, resume, device, threads, checkpointEvery, trainName, maxBytes,
        };
        command.Add(initFrom);
        command.Add(diagnosticsMode);
        command.Validators.Add(r =>
        {
            if (r.GetResult(seed) is not null && r.GetResult(seeds) is not null) r.AddError("give either --seed or --seeds, not both");
            if (r.GetResult(parallel) is not null && r.GetResult(seeds) is null) r.AddError("--parallel needs --seeds (it trains several seeds at a time)");
            if (r.GetResult(initFrom) is not null && r.GetValue(resume)) r.AddError("give either --init-from or --resume, not both (a resumed run continues from its checkpoint)");
        });
        command.SetAction((parse, cancel) =>
        {
            var source = parse.GetValue(file)!;
            var overrides = CommonOptions.ParseAssignments(parse.GetValue(set));
            var options = new CompileOptions(overrides, parse.GetValue(maxBytes));
            var seedList = ParseSeeds(parse.GetValue(seeds));
            var compilation = CompileStep.Run(io, source, options);
            if (compilation is null) return Task.FromResult(ExitCodes.InputError);
            var program = compilation.Program!;
            var train = program.Train(parse.GetValue(trainName));

            if (parse.GetValue(threads) is int n) TorchSharp.torch.set_num_threads(n);
            // --init-from: read and checked against the model before any run directory is touched.
            using var init = parse.GetValue(initFrom) is { } initFile ? Commands.InitFrom.Read(initFile.ToString(), program.ModelFor(train)) : null;

            string dir = parse.GetValue(outDir)?.FullName ?? Path.Combine(Environment.CurrentDirectory, "runs", Path.GetFileNameWithoutExtension(source.Name));
            var runs = seedList is null
                ? [(Dir: dir, Seed: parse.GetValue(seed))]
                : seedList.Select(s => (Dir: Path.Combine(dir, $"seed-{s}"), Seed: (long?)s)).ToList();

            var width = Math.Min(parse.GetValue(parallel) ?? 1, runs.Count);
            var results = new (long Seed, TrainResult Result)[runs.Count];
            void TrainOne(int i, string? prefix)
            {
                var run = runs[i];
                // The run directory is locked from here until weights.dat is written; build/ and run.json are written
                // only once a resume has been verified (Prepared), so a resume that fails changes nothing.
                using var runLock = RunLock.Acquire(run.Dir, parse.GetValue(resume));
                var trainOptions = new TrainOptions(
                    OutDir: run.Dir,
                    Epochs: parse.GetValue(epochs),
                    Steps: parse.GetValue(steps),
                    Seed: run.Seed,
                    Device: parse.GetValue(device)!,
                    Resume: parse.GetValue(resume),
                    CheckpointEvery: parse.GetValue(checkpointEvery),
                    SymmetryReportMarkdown: SymmetryReport.Render(compilation),
                    Lock: runLock,
                    Prepared: () =>
                    {
                        BuildCommand.Write(compilation, Path.Combine(run.Dir, "build"));
                        new RunManifest(source.FullName, new Dictionary<string, string>(overrides), train.Model, run.Seed ?? train.Seed) { Train = train.Name, InitFrom = init?.Path }.Write(run.Dir);
                    },
                    Warn: message => io.Err.WriteLine($"symc: warning: {message}"));

                lock (io) io.Err.WriteLine($"{prefix}training {train.Model}{(train.Named ? $" ({train.Name})" : "")} from {CompileStep.DisplayPath(source)} (seed {run.Seed ?? train.Seed}) → {DisplayPaths.Of(run.Dir)}");
                using var diagnostics = SymmetryDiagnostics.Create(program.ModelFor(train), train, DiagnosticsOptions.Default with
                {
                    Mode = parse.GetValue(diagnosticsMode) == "background" ? DiagnosticsMode.Background : DiagnosticsMode.Inline,
                });
                // weights.dat is written at the end of the run, before summary.json (which marks a run directory complete).
                IReadOnlyList<ITrainingObserver> observers = diagnostics is null ? [new WeightsExport()] : [diagnostics, new WeightsExport()];
                if (init is not null) observers = [init, .. observers]; // first: the diagnostics start from the loaded weights
                var result = TrainingView.Run(io, program, train, trainOptions, observers, cancel, prefix);
                if (prefix is null) TrainingView.PrintSummary(io, result);
                results[i] = (run.Seed ?? train.Seed, result);
            }
            if (width <= 1)
                for (var i = 0; i < runs.Count; i++) TrainOne(i, null);
            else
            {
                // Each run owns its generators and touches no global torch state, so concurrent runs give exactly the
                // results they give alone; progress is plain lines prefixed with the seed.
                try
                {
                    Parallel.For(0, runs.Count, new ParallelOptions { MaxDegreeOfParallelism = width, CancellationToken = cancel },
                        i => TrainOne(i, $"[seed {runs[i].Seed}] "));
                }
                catch (AggregateException e)
                {
                    var first = e.Flatten().InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.InnerExceptions[0];
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
                }
                foreach (var (_, result) in results) TrainingView.PrintSummary(io, result);
            }
            if (results.Length > 1) TrainingView.PrintSeedTable(io, results);
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    /// <summary>"1,2,3" or "1-4" (inclusive) → seeds; null when not given.</summary>
    internal static IReadOnlyList<long>? ParseSeeds(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var seeds = new List<long>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int dash = part.IndexOf('-', 1);
            if (dash > 0 && long.TryParse(part[..dash], out var lo) && long.TryParse(part[(dash + 1)..], out var hi) && lo <= hi && hi - lo < 1000)
                for (long s = lo; s <= hi; s++) seeds.Add(s);
            else if (long.TryParse(part, out var one)) seeds.Add(one);
            else throw new SymDslException($"--seeds expects a list like 1,2,3 or a range like 1-5, got '{text}'");
        }
        return seeds.Distinct().ToList();
    }
}
