using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SymDsl.Cli.Sweeps;

namespace SymDsl.Cli.Tests;

/// <summary>
/// symc sweep: a grid × seeds of ordinary run directories, run by child symc processes; resumable; the Slurm script.
/// Every test has its own temporary directory and model file.
/// </summary>
public class SweepTests
{
    /// <summary>A small model with two hyper-parameters; width2=0 fails to build (SYM0303), the failing cell of a grid.</summary>
    const string Model = """
        model Tiny(width: int = 8, width2: int = 8) {
            input x: [64]
            layer fc1 = Linear(64, width)
            layer fc2 = Linear(width, width2)
            layer fc3 = Linear(width2, 10)
            h = relu(fc1(x))
            g = relu(fc2(h))
            output logits = fc3(g)
        }

        train Tiny {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9)
            batch     32
            steps     20
            seed      1
        }
        """;

    /// <summary>A cell name as a CSV field (quoted when it holds a comma, as CsvHelper writes it).</summary>
    static string Field(string name) => name.Contains(',') ? $"\"{name}\"" : name;

    static string WriteModel() => Symc.WriteTemp("tiny.sym", Model);

    static JsonElement Summary(string cellDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(cellDir, "summary.json")));
        return doc.RootElement.Clone();
    }

    /// <summary>The start and end times the sweep logged around each attempt at a cell (symc.log's '# symc sweep' lines).</summary>
    static List<(DateTime Start, DateTime End)> Attempts(string cellDir)
    {
        var stamps = File.ReadAllLines(Path.Combine(cellDir, CellFiles.Log))
            .Where(l => l.StartsWith("# symc sweep ", StringComparison.Ordinal))
            .Select(l => DateTime.Parse(l["# symc sweep ".Length..l.IndexOf(": ", StringComparison.Ordinal)], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal))
            .ToList();
        return stamps.Chunk(2).Where(c => c.Length == 2).Select(c => (c[0], c[1])).ToList();
    }

    [Fact]
    public void A_2x2_grid_of_2_seeds_runs_in_2_processes_and_writes_csv_and_html()
    {
        var model = WriteModel();
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", model, "--set", "width=4,8", "--set", "width2=4,6", "--seeds", "1,2", "--jobs", "2", "--steps", "20", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);

        var spec = SweepSpec.Read(dir);
        var cells = spec.Cells();
        Assert.Equal(8, cells.Count);
        Assert.Contains(cells, c => c.Name == "width=8,width2=6/seed-2");
        foreach (var c in cells) Assert.True(File.Exists(Path.Combine(dir, c.Name, "summary.json")), c.Name);

        // sweep.csv: a header and one row per cell, whose numbers are the cell's own summary.json.
        var csv = File.ReadAllLines(Path.Combine(dir, "sweep.csv"));
        Assert.Equal("cell,width,width2,seed,status,train_loss,test_loss,test_accuracy,steps,wall_seconds,error", csv[0]);
        Assert.Equal(9, csv.Length);
        foreach (var c in cells)
        {
            var row = csv.Single(l => l.StartsWith($"{Field(c.Name)},", StringComparison.Ordinal));
            var acc = Summary(Path.Combine(dir, c.Name)).GetProperty("test_accuracy").GetDouble();
            Assert.Contains($",{c.Seed},done,", row);
            Assert.Contains("," + acc.ToString("R", CultureInfo.InvariantCulture) + ",", row);
            Assert.Contains(",20,", row); // steps
        }

        // sweep.html with one plot per final metric and swept hyper-parameter (PNG beside and embedded).
        var html = File.ReadAllText(Path.Combine(dir, "sweep.html"));
        Assert.Contains("test_accuracy vs width2", html);
        Assert.Contains("data:image/png;base64,", html);
        foreach (var m in new[] { "train_loss", "test_loss", "test_accuracy" })
            foreach (var a in new[] { "width", "width2" })
                Assert.True(new FileInfo(Path.Combine(dir, "plots", $"{m}-vs-{a}.png")).Length > 1000, $"{m}-vs-{a}.png");

        // --jobs 2: the first two cells ran at the same time (each one's attempt started before the other's ended).
        var first = Attempts(Path.Combine(dir, cells[0].Name)).Single();
        var second = Attempts(Path.Combine(dir, cells[1].Name)).Single();
        Assert.True(first.Start < second.End && second.Start < first.End, $"{first} and {second} do not overlap");

        // The table on stdout: each cell, then mean ± sd per grid point.
        Assert.Contains("width=4,width2=6 (mean ± sd)\t2/2 done", r.Out);

        // --collect rebuilds the same table from the cells alone.
        var before = File.ReadAllText(Path.Combine(dir, "sweep.csv"));
        File.Delete(Path.Combine(dir, "sweep.csv"));
        File.Delete(Path.Combine(dir, "sweep.html"));
        var c2 = Symc.Run("sweep", "--collect", dir);
        Assert.True(c2.ExitCode == 0, c2.All);
        Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "sweep.csv")));
        Assert.True(File.Exists(Path.Combine(dir, "sweep.html")));
    }

    [Fact]
    public void One_job_runs_cells_one_after_another()
    {
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", WriteModel(), "--set", "width=4,8", "--seeds", "1", "--steps", "10", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        var a = Attempts(Path.Combine(dir, "width=4/seed-1")).Single();
        var b = Attempts(Path.Combine(dir, "width=8/seed-1")).Single();
        Assert.True(a.End <= b.Start, $"{a} and {b} overlap with --jobs 1");
    }

    /// <summary>
    /// Stopped with SIGTERM (as Ctrl-C: each running cell checkpoints at its step), or the sweep and its cells killed
    /// with SIGKILL (a crash: cells keep their last periodic checkpoint) — then the same command again.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_interrupted_sweep_run_again_skips_finished_cells_and_resumes_the_interrupted_ones(bool crash)
    {
        var model = WriteModel();
        var dir = Symc.TempDir();
        string[] args = ["sweep", model, "--set", "width=4,8", "--seeds", "1,2", "--jobs", "2", "--steps", "6000", "--checkpoint-every", "50", "--out", dir];
        var cells = new[] { "width=4/seed-1", "width=4/seed-2", "width=8/seed-1", "width=8/seed-2" }.Select(c => Path.Combine(dir, c)).ToArray();
        bool Done(string c) => File.Exists(Path.Combine(c, "summary.json"));
        bool MidRun(string c) => !Done(c) && File.Exists(Path.Combine(c, "checkpoint.bin"));

        using (var sweep = SymcProcess.Start(args))
        {
            // Wait until a cell has finished and one of the second wave (started when a first one ended: --jobs 2) runs
            // with a checkpoint, then stop the sweep. (A first-wave cell with a checkpoint may be a moment from its end.)
            var clock = Stopwatch.StartNew();
            while (!(cells.Any(Done) && cells[2..].Any(MidRun)))
            {
                Assert.False(sweep.HasExited, "the sweep ended before it could be interrupted:\n" + sweep.Err);
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(3), "no cell finished while another ran:\n" + sweep.Err);
                Thread.Sleep(20);
            }
            if (crash)
            {
                sweep.Kill(); // SIGKILL to the sweep and every cell process
                var clock2 = Stopwatch.StartNew();
                while (cells.Any(CellFiles.IsLocked) && clock2.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(20); // the kernel's locks go with the processes
            }
            else
            {
                sweep.Signal(15);
                var stopped = sweep.WaitForExit(TimeSpan.FromMinutes(2));
                Assert.True(stopped.ExitCode == ExitCodes.Interrupted, stopped.All);
                Assert.Contains("symc: interrupted", stopped.Err);
            }
        }
        var finished = cells.Where(Done).ToList();
        var interrupted = cells.Where(MidRun).ToList();
        Assert.NotEmpty(finished);
        Assert.NotEmpty(interrupted);
        if (!crash)
        {
            // The table written on the way out says so.
            var csv = File.ReadAllText(Path.Combine(dir, "sweep.csv"));
            foreach (var c in interrupted) Assert.Contains($"{Field(Path.GetRelativePath(dir, c))},{(c.Contains("width=4") ? 4 : 8)},{c[^1]},interrupted,", csv);
        }

        // Finished cells' files, byte for byte and with their times, to prove they are not touched again.
        var untouched = finished.SelectMany(c => Directory.EnumerateFiles(c, "*", SearchOption.AllDirectories))
            .ToDictionary(f => f, f => (File.GetLastWriteTimeUtc(f), Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))));

        var again = Symc.Run(args);
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains($"({finished.Count} done already)", again.Err);
        foreach (var (f, (time, hash)) in untouched)
        {
            Assert.Equal(time, File.GetLastWriteTimeUtc(f));
            Assert.Equal(hash, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));
        }
        foreach (var c in interrupted)
        {
            var log = File.ReadAllLines(Path.Combine(c, CellFiles.Log));
            var resumeLine = Assert.Single(log, l => l.Contains(": resuming cell ", StringComparison.Ordinal));
            Assert.EndsWith(" --resume", resumeLine);
            var summary = Summary(c);
            Assert.Equal(6000, summary.GetProperty("steps").GetInt64());
            // The resumed process trained only the steps after the checkpoint (resumed at a step > 0).
            Assert.InRange(summary.GetProperty("steps_this_process").GetInt64(), 1, 5999);
        }
        Assert.All(cells, c => Assert.True(Done(c), c));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, "sweep.csv")).Count(l => l.Contains(",done,")));
    }

    [Fact]
    public void A_failing_cell_is_recorded_with_its_error_and_the_others_finish_and_a_rerun_retries_it()
    {
        var dir = Symc.TempDir();
        string[] args = ["sweep", WriteModel(), "--set", "width2=4,0", "--seeds", "1", "--jobs", "2", "--steps", "10", "--out", dir];
        var r = Symc.Run(args);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("1 cell failed", r.Err);
        Symc.AssertNoStackTrace(r);
        Assert.True(File.Exists(Path.Combine(dir, "width2=4/seed-1/summary.json")));
        var error = File.ReadAllText(Path.Combine(dir, "width2=0/seed-1/error.txt"));
        Assert.Contains("exit 1: ", error);
        Assert.Contains("error SYM0303", error);
        var csv = File.ReadAllLines(Path.Combine(dir, "sweep.csv"));
        Assert.Contains(csv, l => l.StartsWith("width2=4/seed-1,4,1,done,", StringComparison.Ordinal));
        Assert.Contains(csv, l => l.StartsWith("width2=0/seed-1,0,1,failed,", StringComparison.Ordinal) && l.Contains("SYM0303"));

        var again = Symc.Run(args);
        Assert.Equal(ExitCodes.InputError, again.ExitCode);
        Assert.Contains("1 done already", again.Err);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "width2=0/seed-1", CellFiles.Log)).Count(l => l.Contains(": starting cell ")));
        Assert.Single(File.ReadAllLines(Path.Combine(dir, "width2=4/seed-1", CellFiles.Log)), l => l.Contains(": starting cell "));
    }

    [Fact]
    public void Slurm_dry_run_writes_an_array_job_script_with_signal_requeue_and_per_task_logs()
    {
        var model = WriteModel();
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", model, "--set", "width=4,8", "--set", "width2=4,6", "--seeds", "1,2", "--steps", "20",
            "--slurm", "--partition", "debug", "--time", "0:30:00", "--array-limit", "2", "--dry-run", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        var script = File.ReadAllText(Path.Combine(dir, "sweep.sbatch"));
        foreach (var line in new[]
        {
            "#SBATCH --array=0-7%2", "#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --signal=B:USR1@90",
            $"#SBATCH --output={Path.Combine(dir, "logs")}/%A_%a.log", "#SBATCH --time=0:30:00", "#SBATCH --partition=debug",
        })
            Assert.Contains(line + "\n", script);
        Assert.Contains("scontrol requeue", script);
        Assert.Contains("--resume", script);
        foreach (var c in SweepSpec.Read(dir).Cells())
            Assert.Contains($"  {c.Index}) cell={c.Name};", script);
        Assert.True(Directory.Exists(Path.Combine(dir, "logs")));
        Assert.False(Directory.Exists(Path.Combine(dir, "width=4,width2=4")), "a dry run trains nothing");
        // bash accepts it.
        var check = Process.Start(new ProcessStartInfo("bash", ["-n", Path.Combine(dir, "sweep.sbatch")]) { RedirectStandardError = true })!;
        var err = check.StandardError.ReadToEnd();
        check.WaitForExit();
        Assert.True(check.ExitCode == 0, err);
    }

    /// <summary>
    /// The array task's own logic without Slurm: the script run as task 0, SIGUSR1 to its shell mid-run (what
    /// --signal=B:USR1@90 sends) → symc checkpoints, the task requeues itself (a stand-in scontrol records the call);
    /// run again as after the requeue → it resumes from the checkpoint and finishes.
    /// </summary>
    [Fact]
    public void The_array_task_checkpoints_and_requeues_on_SIGUSR1_and_resumes_when_run_again()
    {
        if (OperatingSystem.IsWindows()) return; // a bash script and POSIX signals
        var model = WriteModel();
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", model, "--set", "width=4,8", "--seeds", "1", "--steps", "6000", "--checkpoint-every", "50",
            "--slurm", "--dry-run", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        var bin = Path.Combine(dir, "fakebin");
        Directory.CreateDirectory(bin);
        var calls = Path.Combine(dir, "scontrol.calls");
        File.WriteAllText(Path.Combine(bin, "scontrol"), $"#!/bin/sh\necho \"$@\" >> '{calls}'\n");
        File.SetUnixFileMode(Path.Combine(bin, "scontrol"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        Process Task0(string logName)
        {
            var info = new ProcessStartInfo("bash", [Path.Combine(dir, "sweep.sbatch")])
            {
                RedirectStandardOutput = false, UseShellExecute = false,
            };
            info.Environment["SLURM_ARRAY_TASK_ID"] = "0";
            info.Environment["SLURM_ARRAY_JOB_ID"] = "77";
            info.Environment["SLURM_JOB_ID"] = "78";
            info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
            info.Environment.Remove("SYMC_DEBUG");
            info.RedirectStandardOutput = true;
            info.RedirectStandardError = true;
            var p = Process.Start(info)!;
            var log = new System.Text.StringBuilder();
            p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            p.Exited += (_, _) => { lock (log) File.WriteAllText(Path.Combine(dir, logName), log.ToString()); };
            p.EnableRaisingEvents = true;
            return p;
        }

        var cell = Path.Combine(dir, "width=4/seed-1");
        using (var first = Task0("first.log"))
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(cell, "checkpoint.bin")))
            {
                Assert.False(first.HasExited, "the task ended before a checkpoint");
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "no checkpoint");
                Thread.Sleep(20);
            }
            Assert.Equal(0, SignalProcess(first.Id, 10)); // SIGUSR1
            Assert.True(first.WaitForExit(TimeSpan.FromMinutes(2)), "the task did not end after SIGUSR1");
            first.WaitForExit();
            Assert.Equal(0, first.ExitCode);
        }
        Assert.Equal("requeue 78", File.ReadAllText(calls).Trim());
        Assert.False(File.Exists(Path.Combine(cell, "summary.json")), "the run finished before the signal; nothing was interrupted");
        Assert.True(File.Exists(Path.Combine(cell, "checkpoint.bin")));
        Assert.Contains("symc: interrupted", File.ReadAllText(Path.Combine(cell, CellFiles.Log)));

        using (var second = Task0("second.log"))
        {
            Assert.True(second.WaitForExit(TimeSpan.FromMinutes(3)), "the requeued task did not end");
            second.WaitForExit();
            Assert.True(second.ExitCode == 0, File.ReadAllText(Path.Combine(cell, CellFiles.Log)));
        }
        Assert.Contains("resuming width=4/seed-1 from its checkpoint", File.ReadAllText(Path.Combine(dir, "second.log")));
        var summary = Summary(cell);
        Assert.Equal(6000, summary.GetProperty("steps").GetInt64());
        Assert.InRange(summary.GetProperty("steps_this_process").GetInt64(), 1, 5999); // resumed at a step > 0

        // --collect sees the one finished cell and the one never run.
        var c = Symc.Run("sweep", "--collect", dir);
        Assert.True(c.ExitCode == 0, c.All);
        var csv = File.ReadAllLines(Path.Combine(dir, "sweep.csv"));
        Assert.Contains(csv, l => l.StartsWith("width=4/seed-1,4,1,done,", StringComparison.Ordinal));
        Assert.Contains(csv, l => l.StartsWith("width=8/seed-1,8,1,pending,", StringComparison.Ordinal));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int SignalProcess(int pid, int sig);

    [Fact]
    public void Another_sweep_into_the_same_directory_is_refused()
    {
        var model = WriteModel();
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", model, "--set", "width=4,8", "--seeds", "1", "--steps", "10", "--slurm", "--dry-run", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        var other = Symc.Run("sweep", model, "--set", "width=4,8", "--seeds", "1", "--steps", "20", "--slurm", "--dry-run", "--out", dir);
        Assert.Equal(ExitCodes.InputError, other.ExitCode);
        Assert.Contains("--steps 10 vs 20", other.Err);
        Symc.AssertNoStackTrace(other);
    }

    [Theory]
    [InlineData("needs --seeds", "sweep", "MODEL", "--set", "width=4,8", "--out", "DIR")]
    [InlineData("needs --out", "sweep", "MODEL", "--set", "width=4,8", "--seeds", "1")]
    [InlineData("needs a FILE", "sweep", "--seeds", "1", "--out", "DIR")]
    [InlineData("--partition needs --slurm", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--partition", "gpu")]
    [InlineData("--dry-run needs --slurm", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--dry-run")]
    [InlineData("--jobs is for local sweeps", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--slurm", "--jobs", "2")]
    [InlineData("--collect DIR takes no FILE", "sweep", "MODEL", "--collect", "DIR")]
    [InlineData("--seeds cannot be combined with --collect", "sweep", "--collect", "DIR", "--seeds", "1")]
    [InlineData("--jobs must be between 1 and 256, got 0", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--jobs", "0")]
    [InlineData("--time expects a Slurm time limit", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--slurm", "--time", "soon")]
    [InlineData("--array-limit must be at least 1", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--slurm", "--array-limit", "0")]
    [InlineData("lists a value twice", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--set", "width=4,4")]
    [InlineData("--set width is given twice", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--set", "width=4", "--set", "width=8")]
    [InlineData("has an empty value", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--set", "width=4,")]
    [InlineData("--set expects NAME=V1,V2", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--set", "width")]
    [InlineData("--seeds expects a list", "sweep", "MODEL", "--seeds", "one", "--out", "DIR")]
    [InlineData("--bogus", "sweep", "MODEL", "--seeds", "1", "--out", "DIR", "--bogus")]
    public void Bad_usage_is_exit_2_with_a_message(string expected, params string[] args)
    {
        var model = WriteModel();
        var dir = Symc.TempDir();
        var r = Symc.Run(args.Select(a => a == "MODEL" ? model : a == "DIR" ? dir : a).ToArray());
        Assert.True(r.ExitCode == ExitCodes.Usage, r.All);
        Assert.Contains(expected, r.Err);
        Symc.AssertNoStackTrace(r);
        Assert.False(File.Exists(Path.Combine(dir, "sweep.json")), "bad usage wrote the sweep");
    }

    [Fact]
    public void A_cell_another_process_is_training_is_left_alone()
    {
        var dir = Symc.TempDir();
        var busy = Path.Combine(dir, "width=8/seed-1");
        Directory.CreateDirectory(busy);
        // What a training run holds while it runs (RunLock: the kernel's lock on DIR/.lock).
        using (var held = new FileStream(Path.Combine(busy, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var r = Symc.Run("sweep", WriteModel(), "--set", "width=4,8", "--seeds", "1", "--steps", "10", "--out", dir);
            Assert.Equal(ExitCodes.InputError, r.ExitCode);
            Assert.Contains("1 running in another process (skipped)", r.Err);
            Assert.Contains("1 cell is being trained by another process", r.Err);
            Assert.True(File.Exists(Path.Combine(dir, "width=4/seed-1/summary.json")));
            Assert.False(File.Exists(Path.Combine(busy, CellFiles.Log)), "the sweep started the locked cell");
            Assert.Contains(File.ReadAllLines(Path.Combine(dir, "sweep.csv")), l => l.StartsWith("width=8/seed-1,8,1,running,", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Help_lists_sweep_and_its_options()
    {
        var root = Symc.Run("--help");
        Assert.Contains("sweep", root.Out);
        var r = Symc.Run("sweep", "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var o in new[] { "--set", "--seeds", "--jobs", "--out", "--collect", "--slurm", "--partition", "--time", "--array-limit", "--dry-run" })
            Assert.Contains(o, r.Out);
    }

    [Fact]
    public void A_missing_model_file_is_one_error_before_any_cell()
    {
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", Path.Combine(dir, "absent.sym"), "--set", "width=4,8", "--seeds", "1", "--out", dir);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("absent.sym", r.Err);
        Symc.AssertNoStackTrace(r);
        Assert.False(File.Exists(Path.Combine(dir, "sweep.json")));
    }

    [Fact]
    public void Collect_of_a_directory_without_a_sweep_is_a_clear_error()
    {
        var dir = Symc.TempDir();
        var r = Symc.Run("sweep", "--collect", dir);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("is not a sweep directory", r.Err);
        Symc.AssertNoStackTrace(r);
    }
}
