using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Xunit.Abstractions;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Tests;

/// <summary>
/// symc train as a real child process killed with SIGKILL (and stopped with SIGTERM) at chosen and random moments,
/// during and right after checkpoint writes, then resumed: the end state is the uninterrupted run's. Plus the run
/// directory lock against a second writer, and resumes that fail without touching the run directory.
/// </summary>
[Collection("libtorch thread count")] // runs `symc train --threads 1` in this process: not beside ParallelSeedsTests
public class CrashSafetyTests(ITestOutputHelper output)
{
    const int Steps = 100;

    /// <summary>A tiny model (one diagnostic, syre, adam with a cosine schedule) whose every step is logged.</summary>
    static string TinyModel() => Symc.WriteTemp("tiny.sym", $$"""
        model Tiny(width: int = 8) {
            input x: [64]
            layer fc1 = Linear(64, width)
            layer fc2 = Linear(width, 10)
            h = relu(fc1(x))
            output logits = fc2(h)
            symmetry scale : rescale(h)
        }

        train Tiny {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer adam(lr = 0.01)
            schedule  cosine(min_lr = 0.001)
            batch     64
            steps     {{Steps}}
            seed      3
            log       every 1 steps
            break     syre(sigma = 0.1) on scale
            diagnose  balance(scale) every 7 steps
        }
        """);

    static string[] Train(string sym, string dir, bool resume = false) =>
        ["train", sym, "--out", dir, "--threads", "1", "--checkpoint-every", "1", .. resume ? new[] { "--resume" } : []];

    static Dictionary<string, string> Pause(string at) => new() { ["SYMDSL_TEST_CHECKPOINT_PAUSE"] = at };

    static int MetricsLines(string dir)
    {
        try { return File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Length; }
        catch (IOException) { return 0; }
    }

    static void WaitUntil(SymcProcess p, Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (p.HasExited) Assert.Fail($"symc ended before {what}; stderr:\n{p.Err}");
            if (clock.Elapsed > TimeSpan.FromSeconds(90)) Assert.Fail($"timed out waiting for {what}; stderr:\n{p.Err}");
            Thread.Sleep(2);
        }
    }

    static long CheckpointStep(string dir) => Checkpoint.Read(Path.Combine(dir, Checkpoint.FileName)).Step;

    [Fact]
    public void Killed_at_any_moment_and_resumed_a_run_ends_as_the_uninterrupted_one()
    {
        var sym = TinyModel();
        var full = Symc.TempDir();
        var crashed = Symc.TempDir();
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var log = new List<string> { $"random seed {seed}" };

        using (var reference = SymcProcess.Start(Train(sym, full)))
        {
            // 1. SIGKILL inside the write of step 10's checkpoint (temporary file written, no checksum yet, not renamed).
            using (var p = SymcProcess.Start(Train(sym, crashed), Pause("10:during")))
            {
                WaitUntil(p, () => p.Err.Contains("paused during the checkpoint write of step 10"), "the pause in step 10's checkpoint write");
                p.Kill();
            }
            Assert.Single(Directory.GetFiles(crashed, ".checkpoint.bin.*.tmp"));
            Assert.Equal(9, CheckpointStep(crashed));
            log.Add("killed during the write of step 10");

            // 2. SIGKILL right after the rename of step 25's checkpoint.
            using (var p = SymcProcess.Start(Train(sym, crashed, resume: true), Pause("25:after")))
            {
                WaitUntil(p, () => p.Err.Contains("paused after the checkpoint write of step 25"), "the pause after step 25's checkpoint write");
                p.Kill();
            }
            Assert.Empty(Directory.GetFiles(crashed, ".checkpoint.bin.*.tmp")); // the resume removed step 10's
            Assert.Equal(25, CheckpointStep(crashed));
            log.Add("killed after the rename of step 25");

            reference.WaitForExit(TimeSpan.FromMinutes(2));
        }

        // 3. SIGKILL at random moments (often inside a checkpoint write: every step writes one), and once SIGTERM, which
        //    checkpoints the last finished step and exits 130.
        for (var round = 0; round < 3; round++)
        {
            var from = CheckpointStep(crashed);
            if (from + 3 >= Steps - 5) break; // a loaded machine ran on far past the last kill
            var target = random.Next((int)from + 3, Math.Min((int)from + 20, Steps - 5));
            using var p = SymcProcess.Start(Train(sym, crashed, resume: true));
            WaitUntil(p, () => MetricsLines(crashed) >= target, $"step {target}");
            Thread.Sleep(random.Next(0, 4));
            if (round == 0)
            {
                p.Signal(15);
                var r = p.WaitForExit(TimeSpan.FromMinutes(1));
                Assert.Equal(ExitCodes.Interrupted, r.ExitCode);
                Assert.Equal(MetricsLines(crashed), CheckpointStep(crashed)); // the exact step: every finished step is kept
                log.Add($"SIGTERM near step {target}: checkpoint at {CheckpointStep(crashed)}");
            }
            else
            {
                p.Kill();
                log.Add($"killed near step {target}: checkpoint at {CheckpointStep(crashed)}, {Directory.GetFiles(crashed, ".checkpoint.bin.*.tmp").Length} temporary file(s)");
            }
        }

        var last = SymcProcess.Run(Train(sym, crashed, resume: true));
        Assert.True(last.ExitCode == 0, string.Join("\n", log) + "\n" + last.All);

        foreach (var line in log) output.WriteLine(line);
        var why = string.Join("; ", log);
        Assert.True(File.ReadAllText(Path.Combine(full, "metrics.jsonl")) == File.ReadAllText(Path.Combine(crashed, "metrics.jsonl")), why);
        Assert.True(File.ReadAllBytes(Path.Combine(full, "weights.dat")).SequenceEqual(File.ReadAllBytes(Path.Combine(crashed, "weights.dat"))), why);
        using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(crashed, "summary.json"))))
            Assert.Equal(Steps, summary.RootElement.GetProperty("steps").GetInt64());
        var expected = TensorBoardEvents.Read(Path.Combine(full, "tensorboard"));
        var actual = TensorBoardEvents.Read(Path.Combine(crashed, "tensorboard"));
        Assert.Equal(Steps, expected.Count(s => s.Tag == "loss"));
        Assert.Equal(expected.Count, expected.DistinctBy(s => (s.Tag, s.Step)).Count());
        Assert.Equal(expected.OrderBy(s => s.Tag, StringComparer.Ordinal).ThenBy(s => s.Step), actual.OrderBy(s => s.Tag, StringComparer.Ordinal).ThenBy(s => s.Step));
        Assert.Empty(Directory.GetFiles(crashed, "*.tmp"));
    }

    [Fact]
    public void A_second_run_into_a_directory_in_use_is_refused_and_a_killed_run_leaves_no_stuck_lock()
    {
        var sym = TinyModel();
        var dir = Symc.TempDir();
        using (var first = SymcProcess.Start(Train(sym, dir), Pause("3:during")))
        {
            WaitUntil(first, () => first.Err.Contains("paused during the checkpoint write of step 3"), "the first run to hold the directory");
            var files = Snapshot(dir);
            foreach (var resume in new[] { false, true })
            {
                var second = Symc.Run(Train(sym, dir, resume));
                Assert.Equal(ExitCodes.InputError, second.ExitCode);
                Assert.Contains($"{dir} is in use by another training run", second.Err);
                Symc.AssertNoStackTrace(second);
            }
            Assert.Equal(files, Snapshot(dir));
            first.Kill();
        }
        // The kernel dropped the killed process's lock: the run resumes from its last checkpoint (step 2).
        var resumed = Symc.Run([.. Train(sym, dir, resume: true), "--steps", "6"]);
        Assert.True(resumed.ExitCode == 0, resumed.All);
        Assert.Equal(6, CheckpointStep(dir));
    }

    [Fact]
    public void A_resume_that_fails_rewrites_nothing_and_says_why_on_one_line()
    {
        var sym = TinyModel();
        var dir = Symc.TempDir();
        Assert.Equal(0, Symc.Run("train", sym, "--out", dir, "--steps", "30").ExitCode);
        var files = Snapshot(dir);

        // Another width, a run shorter than the checkpoint's step (23 steps per epoch), another optimizer in the file.
        var wider = Symc.Run("train", sym, "--out", dir, "--resume", "--steps", "40", "--set", "width=16");
        Assert.Contains("Float32[8, 64] in the checkpoint, Float32[16, 64] now", wider.Err);
        var shorter = Symc.Run("train", sym, "--out", dir, "--resume", "--epochs", "1");
        Assert.Contains("it is at step 30 but this run is only 23 steps long", shorter.Err);
        var sgd = Path.Combine(Symc.TempDir(), "tiny.sym");
        File.WriteAllText(sgd, File.ReadAllText(sym).Replace("adam(lr = 0.01)", "sgd(lr = 0.05)"));
        var otherOptimizer = Symc.Run("train", sgd, "--out", dir, "--resume", "--steps", "40");
        Assert.Matches(@"the optimizer differs: adam\([^)]*lr = 0.01[^)]*\) in the checkpoint, sgd\([^)]*lr = 0.05", otherOptimizer.Err);
        foreach (var r in new[] { wider, shorter, otherOptimizer })
        {
            Assert.Equal(ExitCodes.InputError, r.ExitCode);
            Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("symc: error: cannot resume from", StringComparison.Ordinal));
            Symc.AssertNoStackTrace(r);
        }
        Assert.Equal(files, Snapshot(dir)); // run.json, build/, metrics.jsonl, tensorboard/ … untouched
    }

    /// <summary>
    /// Every file under <paramref name="dir"/> with its length, modification time and SHA-256 (not for files a running
    /// symc holds open exclusively: its lock and a checkpoint being written).
    /// </summary>
    static SortedDictionary<string, string> Snapshot(string dir) => new(
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(dir, f),
            f => $"{new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f).Ticks} {Hash(f)}"),
        StringComparer.Ordinal);

    static string Hash(string file)
    {
        try { return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file))); }
        catch (IOException) { return "(held open by symc)"; }
    }
}
