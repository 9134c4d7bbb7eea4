using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using SymDsl.Cli.Rendering;
using SymDsl.Cli.Sweeps;
using SymDsl.Diagnostics;
using SymDsl.Emit;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc sweep FILE --set NAME=V1,V2 --seeds LIST --out DIR</c>: the grid × seeds, one <c>symc train</c> run directory
/// per cell, run locally in worker processes or as a Slurm array job; <c>symc sweep --collect DIR</c> tabulates and plots.
/// </summary>
internal static class SweepCommand
{
    public static Command Create(CliIO io)
    {
        var file = new Argument<FileInfo?>("FILE")
        {
            Description = "The .sym model file (not with --collect).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        file.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
                if (token.Value.StartsWith('-') && !File.Exists(token.Value))
                    r.AddError($"unknown option '{token.Value}' (FILE expected)");
        });
        var set = new Option<string[]>("--set")
        {
            Description = "A hyper-parameter and its values: --set NAME=V1,V2,… (repeatable; one value = the same in every cell).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        set.Validators.Add(r =>
        {
            try { SweepSpec.ParseSets(r.Tokens.Select(t => t.Value)); }
            catch (SymDslException e) { r.AddError(e.Message); }
        });
        var seeds = new Option<string?>("--seeds") { Description = "The seeds of every grid point: 1,2,3 or 1-5." };
        seeds.Validators.Add(r =>
        {
            try { TrainCommand.ParseSeeds(r.GetValueOrDefault<string?>()); }
            catch (SymDslException e) { r.AddError(e.Message); }
        });
        var jobs = CommonOptions.Count("--jobs", "Worker processes running cells at the same time.", 1, max: 256);
        var epochs = CommonOptions.OptionalCount("--epochs", "Override the number of epochs of every cell.");
        var steps = CommonOptions.OptionalCount("--steps", "Override the number of steps of every cell (takes precedence over epochs).");
        var checkpointEvery = CommonOptions.OptionalCount("--checkpoint-every", "Each cell also checkpoints every N steps (a checkpoint is always written on interruption).");
        var threads = CommonOptions.Count("--threads", "CPU threads libtorch may use in each cell.", 1, max: 1024);
        var trainName = CommonOptions.TrainName();
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "The sweep directory: one run directory per cell, sweep.json, sweep.csv, sweep.html." };
        var collect = new Option<DirectoryInfo?>("--collect") { Description = "Build DIR/sweep.csv and DIR/sweep.html from the cells of the sweep in DIR (e.g. after a Slurm run)." };
        var slurm = new Option<bool>("--slurm") { Description = "Write DIR/sweep.sbatch (a Slurm array job, one task per cell) and submit it with sbatch." };
        var partition = new Option<string?>("--partition") { Description = "Slurm partition (with --slurm)." };
        partition.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } p && !SlurmScript.PartitionFormat().IsMatch(p)) r.AddError($"--partition expects a partition name, got '{p}'");
        });
        var time = new Option<string?>("--time") { Description = "Slurm time limit per task, e.g. 30, 2:00:00 or 1-00:00:00 (with --slurm)." };
        time.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } t && !SlurmScript.TimeFormat().IsMatch(t))
                r.AddError($"--time expects a Slurm time limit (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S), got '{t}'");
        });
        var arrayLimit = CommonOptions.OptionalCount("--array-limit", "At most K array tasks running at once (with --slurm): --array=0-M%K.");
        var dryRun = new Option<bool>("--dry-run") { Description = "With --slurm: write the script, don't submit it." };

        var command = new Command("sweep", "Train a grid of hyper-parameters × seeds, locally in parallel processes or as a Slurm array job; resumable.")
        {
            file, set, seeds, jobs, epochs, steps, checkpointEvery, threads, trainName, outDir, collect, slurm, partition, time, arrayLimit, dryRun,
        };
        command.Validators.Add(r =>
        {
            bool Given(Option o) => r.GetResult(o) is { Implicit: false };
            bool hasFile = r.GetResult(file) is { Tokens.Count: > 0 };
            if (Given(collect))
            {
                if (hasFile) r.AddError("--collect DIR takes no FILE: it reads the sweep from DIR/sweep.json");
                foreach (var o in new Option[] { set, seeds, jobs, epochs, steps, checkpointEvery, threads, trainName, outDir, slurm, partition, time, arrayLimit, dryRun })
                    if (Given(o)) r.AddError($"{o.Name} cannot be combined with --collect");
                return;
            }
            if (!hasFile) { r.AddError("symc sweep needs a FILE (or --collect DIR)"); return; }
            if (!Given(seeds)) r.AddError("symc sweep FILE needs --seeds (e.g. --seeds 1,2,3)");
            if (!Given(outDir)) r.AddError("symc sweep FILE needs --out DIR (the sweep directory)");
            if (!Given(slurm))
                foreach (var o in new Option[] { partition, time, arrayLimit, dryRun })
                    if (Given(o)) r.AddError($"{o.Name} needs --slurm");
            if (Given(slurm) && Given(jobs)) r.AddError("--jobs is for local sweeps; with --slurm use --array-limit");
        });

        command.SetAction(async (parse, cancel) =>
        {
            if (parse.GetValue(collect) is { } collectDir)
                return Collect(io, collectDir.FullName);

            var source = parse.GetValue(file)!;
            var (fixedValues, axes) = SweepSpec.ParseSets(parse.GetValue(set) ?? []);
            var spec = new SweepSpec
            {
                Source = source.FullName,
                Fixed = fixedValues,
                Axes = axes,
                Seeds = TrainCommand.ParseSeeds(parse.GetValue(seeds))!.ToList(),
                Epochs = parse.GetValue(epochs),
                Steps = parse.GetValue(steps),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Threads = parse.GetValue(threads),
                Train = parse.GetValue(trainName),
            };
            var dir = parse.GetValue(outDir)!.FullName;

            // Check the file once (with every axis's first value) before starting a cell: a typo in the model or a --set
            // name is one error now, not one per cell. Values that fail only for some cells fail those cells.
            var first = new Dictionary<string, string>(fixedValues);
            foreach (var a in axes) first[a.Name] = a.Values[0];
            if (CompileStep.Run(io, source, new CompileOptions(first, 4L << 30)) is not { } checkedFile) return ExitCodes.InputError;
            checkedFile.Program!.Train(spec.Train); // the block every cell trains: several blocks and no --train is a usage error now

            if (File.Exists(Path.Combine(dir, SweepSpec.FileName)))
            {
                var old = SweepSpec.Read(dir);
                if (spec.ConflictWith(old) is { } conflict)
                    throw new SymDslException($"{dir} holds a sweep that differs from this one ({conflict}); continue it with its own settings or sweep into another --out directory");
            }
            spec.Write(dir);

            if (parse.GetValue(slurm))
                return SubmitSlurm(io, spec, dir, new SlurmOptions(parse.GetValue(partition), parse.GetValue(time), parse.GetValue(arrayLimit), parse.GetValue(dryRun)));

            var runs = await LocalRunner.Run(io, spec, dir, parse.GetValue(jobs), cancel).ConfigureAwait(false);
            var rows = SweepReport.Rows(spec, dir);
            var (csv, html) = SweepReport.Write(spec, dir, rows);
            PrintTable(io, spec, rows);
            int done = rows.Count(r => r.Status == CellStatus.Done), failed = rows.Count(r => r.Status == CellStatus.Failed);
            io.Err.WriteLine($"sweep: {done}/{rows.Count} cells done, {failed} failed → {DisplayPaths.Of(csv)}, {DisplayPaths.Of(html)}");
            cancel.ThrowIfCancellationRequested();
            if (failed > 0)
            {
                io.Err.WriteLine($"symc: error: {failed} cell{(failed == 1 ? "" : "s")} failed (errors in sweep.csv and each cell's error.txt); run the same command again to retry {(failed == 1 ? "it" : "them")}");
                return ExitCodes.InputError;
            }
            if (rows.Count(r => r.Status == CellStatus.Running) is > 0 and var elsewhere)
            {
                io.Err.WriteLine($"symc: error: {elsewhere} cell{(elsewhere == 1 ? " is" : "s are")} being trained by another process (its run directory is locked); run the same command again when it has finished");
                return ExitCodes.InputError;
            }
            return rows.All(r => r.Status == CellStatus.Done) ? ExitCodes.Ok : ExitCodes.InputError;
        });
        return command;
    }

    static int Collect(CliIO io, string dir)
    {
        var spec = SweepSpec.Read(dir);
        var rows = SweepReport.Rows(spec, dir);
        var (csv, html) = SweepReport.Write(spec, dir, rows);
        PrintTable(io, spec, rows);
        int done = rows.Count(r => r.Status == CellStatus.Done);
        io.Err.WriteLine($"sweep: {done}/{rows.Count} cells done, {rows.Count(r => r.Status == CellStatus.Failed)} failed → {DisplayPaths.Of(csv)}, {DisplayPaths.Of(html)}");
        return ExitCodes.Ok;
    }

    static int SubmitSlurm(CliIO io, SweepSpec spec, string dir, SlurmOptions options)
    {
        Directory.CreateDirectory(Path.Combine(dir, SlurmScript.LogsDir));
        var script = Path.Combine(dir, SlurmScript.FileName);
        Torch.Training.Reports.WriteAtomically(script, SlurmScript.Text(spec, dir, options));
        var cells = spec.Cells().Count;
        io.Err.WriteLine($"sweep: wrote {DisplayPaths.Of(script)} (an array job of {cells} task{(cells == 1 ? "" : "s")}, one per cell)");
        if (options.DryRun)
        {
            io.Out.WriteLine($"sbatch {SlurmScript.Quote(script)}");
            return ExitCodes.Ok;
        }
        var info = new ProcessStartInfo("sbatch") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
        info.ArgumentList.Add(script);
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SymDslException($"sbatch not found: is this a Slurm login node? The script is {script} (submit it there with sbatch, or use --dry-run)");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new SymDslException($"sbatch {script} failed (exit {process.ExitCode}): {stderr.Trim()}");
            io.Out.WriteLine(stdout.Result.Trim());
        }
        io.Err.WriteLine($"sweep: when the job has ended: symc sweep --collect {SlurmScript.Quote(dir)}");
        return ExitCodes.Ok;
    }

    /// <summary>One row per cell, then per grid point the mean ± sd over seeds of the summary metrics.</summary>
    static void PrintTable(CliIO io, SweepSpec spec, IReadOnlyList<SweepRow> rows)
    {
        var metrics = SweepReport.MetricNames(rows).Where(m => CellFiles.SummaryMetrics.Contains(m)).ToList();
        string Num(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
        var header = new List<string> { "cell", "status" };
        header.AddRange(metrics);
        var lines = new List<string[]> { header.ToArray() };
        foreach (var r in rows)
            lines.Add([r.Cell.Name, CellFiles.Word(r.Status), .. metrics.Select(m => r.Metrics.TryGetValue(m, out var v) ? Num(v) : "-")]);
        if (spec.Seeds.Count > 1)
            foreach (var point in rows.GroupBy(r => r.Cell.Name[..^($"seed-{r.Cell.Seed}".Length)].TrimEnd('/')))
            {
                var done = point.Where(r => r.Status == CellStatus.Done).ToList();
                if (done.Count == 0) continue;
                lines.Add([(point.Key.Length > 0 ? point.Key : "all") + " (mean ± sd)", $"{done.Count}/{point.Count()} done",
                    .. metrics.Select(m => done.Where(r => r.Metrics.ContainsKey(m)).Select(r => r.Metrics[m]).ToList() is { Count: > 0 } xs
                        ? $"{Num(SweepReport.MeanSd(xs).Mean)} ± {Num(SweepReport.MeanSd(xs).Sd)}" : "-")]);
            }
        TrainingView.PrintTable(io, lines);
    }
}
