using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace SymDsl.Cli.Sweeps;

/// <summary>A cell's progress and outcome as the live table shows it.</summary>
internal sealed class CellRun(SweepCell cell, string dir)
{
    public SweepCell Cell { get; } = cell;
    public string Dir { get; } = dir;
    public CellStatus Status { get; set; } = CellFiles.StatusOf(dir);
    public bool Started { get; set; }
    public bool Resumed { get; set; }
    public long Step { get; set; }
    public long Total { get; set; }
    public double? Loss { get; set; }
    public Stopwatch Clock { get; } = new();
    public string? Error { get; set; }
}

/// <summary>
/// Runs a sweep's cells on this machine: each cell is a child <c>symc train</c> process (the same symc.dll as this one),
/// at most N at a time. A cell with a checkpoint and no summary is resumed; a finished one is skipped; a failed one is
/// recorded (DIR/CELL/error.txt) and the others go on. On Ctrl-C/SIGTERM every running cell gets one SIGTERM (it writes a
/// checkpoint and exits), and the sweep waits for them.
/// </summary>
internal static partial class LocalRunner
{
    [GeneratedRegex(@"^step (\d+)/(\d+) epoch \d+ loss (\S+)")]
    private static partial Regex ProgressLine();

    public static async Task<IReadOnlyList<CellRun>> Run(CliIO io, SweepSpec spec, string sweepDir, int jobs, CancellationToken cancel)
    {
        var runs = spec.Cells().Select(c => new CellRun(c, Path.Combine(sweepDir, c.Name))).ToList();
        var todo = new Queue<CellRun>(runs.Where(r => r.Status is not (CellStatus.Done or CellStatus.Running)));
        int skipped = runs.Count(r => r.Status == CellStatus.Done);
        int elsewhere = runs.Count(r => r.Status == CellStatus.Running);
        io.Err.WriteLine($"sweep: {runs.Count} cells ({skipped} done already{(elsewhere > 0 ? $", {elsewhere} running in another process (skipped)" : "")}), " +
                         $"{todo.Count} to run with {jobs} worker process{(jobs == 1 ? "" : "es")} → {Rendering.DisplayPaths.Of(sweepDir)}");

        var running = new List<Task>();
        async Task Loop()
        {
            while (todo.Count > 0 || running.Count > 0)
            {
                while (running.Count < jobs && todo.Count > 0 && !cancel.IsCancellationRequested)
                    running.Add(RunCell(io, spec, todo.Dequeue(), cancel));
                if (running.Count == 0) break; // cancelled with nothing running
                var finished = await Task.WhenAny(running).ConfigureAwait(false);
                running.Remove(finished);
                await finished.ConfigureAwait(false);
            }
        }

        if (io.IsTerminal) await LiveTable(runs, Loop()).ConfigureAwait(false);
        else await Loop().ConfigureAwait(false);
        return runs;
    }

    static async Task LiveTable(List<CellRun> runs, Task work)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in new[] { "cell", "status", "step", "loss", "time" }) table.AddColumn(h);
        await AnsiConsole.Live(table).AutoClear(false).StartAsync(async ctx =>
        {
            while (true)
            {
                table.Rows.Clear();
                // The running cells and those that ended in this run, then at most a few waiting ones.
                foreach (var r in runs.Where(r => r.Started).Concat(runs.Where(r => !r.Started && r.Status != CellStatus.Done).Take(4)))
                    table.AddRow(Markup.Escape(r.Cell.Name), StatusMarkup(r), r.Total > 0 ? $"{r.Step}/{r.Total}" : "",
                        r.Loss is { } l ? l.ToString("F4", CultureInfo.InvariantCulture) : "",
                        r.Started ? $"{r.Clock.Elapsed.TotalSeconds:F1} s" : "");
                table.Caption($"{runs.Count(r => r.Status == CellStatus.Done)}/{runs.Count} done, {runs.Count(r => r.Status == CellStatus.Failed)} failed");
                ctx.Refresh();
                if (work.IsCompleted) break;
                await Task.WhenAny(work, Task.Delay(250)).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        await work.ConfigureAwait(false);
    }

    static string StatusMarkup(CellRun r) => r.Status switch
    {
        CellStatus.Done => "[green]done[/]",
        CellStatus.Failed => "[red]failed[/]",
        CellStatus.Running => r.Resumed ? "[yellow]resumed[/]" : "[yellow]running[/]",
        _ => CellFiles.Word(r.Status),
    };

    static async Task RunCell(CliIO io, SweepSpec spec, CellRun run, CancellationToken cancel)
    {
        Directory.CreateDirectory(run.Dir);
        run.Resumed = File.Exists(Path.Combine(run.Dir, CellFiles.Checkpoint));
        File.Delete(Path.Combine(run.Dir, CellFiles.Error)); // retried: the earlier failure no longer describes the cell
        var args = spec.TrainArguments(run.Cell, run.Dir);
        if (run.Resumed) args.Add("--resume");

        var (host, prefix) = SymcCommand();
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = run.Dir,
        };
        foreach (var a in prefix.Concat(args)) info.ArgumentList.Add(a);

        var output = new List<string>();
        await using var log = new StreamWriter(Path.Combine(run.Dir, CellFiles.Log), append: true) { AutoFlush = true };
        log.WriteLine($"# symc sweep {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}: {(run.Resumed ? "resuming" : "starting")} cell {run.Cell.Name}: symc {string.Join(' ', args)}");
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (output)
            {
                output.Add(line);
                log.WriteLine(line);
            }
            var m = ProgressLine().Match(line);
            if (m.Success)
            {
                run.Step = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                run.Total = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                if (double.TryParse(m.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var loss)) run.Loss = loss;
            }
        }

        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        run.Clock.Start();
        run.Started = true;
        run.Status = CellStatus.Running;
        if (!io.IsTerminal) lock (io) io.Err.WriteLine($"sweep: {(run.Resumed ? "resuming" : "starting")} {run.Cell.Name}");
        try { process.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new Diagnostics.SymDslException($"cannot start a worker process ({info.FileName} {string.Join(' ', prefix)}): {e.Message}", e);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // One SIGTERM on interruption: the run checkpoints at its current step and exits 130 (a second signal would kill it).
        await using (cancel.Register(() => Terminate(process)))
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        process.WaitForExit(); // drain the output readers
        run.Clock.Stop();

        int code = process.ExitCode;
        lock (output) log.WriteLine($"# symc sweep {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}: exit {code}");
        if (code == ExitCodes.Ok && File.Exists(Path.Combine(run.Dir, Torch.Training.Trainer.SummaryFileName)))
            run.Status = CellStatus.Done;
        else if (code == ExitCodes.Interrupted || (cancel.IsCancellationRequested && code != ExitCodes.Ok))
            run.Status = CellFiles.StatusOf(run.Dir);
        else
        {
            List<string> lines;
            lock (output) lines = [.. output];
            run.Error = CellFiles.ErrorLine(code, lines);
            SymDsl.Text.AtomicFile.WriteAllText(Path.Combine(run.Dir, CellFiles.Error), run.Error + "\n");
            run.Status = CellStatus.Failed;
        }
        if (!io.IsTerminal)
            lock (io) io.Err.WriteLine($"sweep: {run.Cell.Name}: {CellFiles.Word(run.Status)} ({run.Clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s){(run.Error is { } e ? ": " + e : "")}");
    }

    /// <summary>
    /// How to start this same symc: <c>dotnet symc.dll</c> with the assembly that holds this code (also right when symc runs
    /// inside a test host) and the dotnet host running now (else DOTNET_HOST_PATH, else dotnet on PATH). On Linux the child
    /// gets its own session (<c>setsid</c>) so that a terminal's Ctrl-C reaches only the sweep, which then sends each cell
    /// exactly one SIGTERM (a second signal would end a cell before its checkpoint).
    /// </summary>
    public static (string Host, IReadOnlyList<string> Prefix) SymcCommand()
    {
        var dll = typeof(SymcApp).Assembly.Location;
        string dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h
            : "dotnet";
        const string setsid = "/usr/bin/setsid";
        return OperatingSystem.IsLinux() && File.Exists(setsid) ? (setsid, [dotnet, dll]) : (dotnet, [dll]);
    }

    static void Terminate(Process process)
    {
        try
        {
            if (process.HasExited) return;
            if (OperatingSystem.IsWindows()) process.Kill(); // no SIGTERM there
            else _ = Kill(process.Id, 15);
        }
        catch (InvalidOperationException) { /* already gone */ }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int sig);
}
