using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static SymDsl.Torch.Tests.TestPrograms;

namespace SymDsl.Torch.Tests;

/// <summary>Checkpoint format 3, what --resume accepts and refuses, the run directory lock, metrics and TensorBoard after resumes.</summary>
[Collection("torch")]
public class ResumeTests
{
    static TrainIR Short(int steps = 12, int? checkpointEvery = 4) => MlpTrain(steps: steps, logEvery: 1, checkpointEvery: checkpointEvery);

    /// <summary>A finished 12-step run of Mlp(8) with checkpoints every 4 steps.</summary>
    static string Trained(string name, TrainIR? train = null, int width = 8)
    {
        var dir = TempDir(name);
        train ??= Short();
        Trainer.Run(Program(Mlp(width), train), train, new TrainOptions(dir));
        return dir;
    }

    /// <summary>Every file under <paramref name="dir"/> with its SHA-256 and modification time.</summary>
    static SortedDictionary<string, string> Snapshot(string dir) => new(
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(dir, f),
            f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))) + " " + File.GetLastWriteTimeUtc(f).Ticks),
        StringComparer.Ordinal);

    static SymDslException FailedResume(string dir, TrainIR train, int width = 8, TrainOptions? options = null)
    {
        var before = Snapshot(dir);
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(width), train), train, options ?? new TrainOptions(dir, Resume: true)));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(before, Snapshot(dir)); // a resume that fails rewrites nothing
        return e;
    }

    [Fact]
    public void A_checkpoint_records_its_format_the_parameters_and_what_the_run_was_made_from()
    {
        var dir = Trained("meta");
        var meta = Checkpoint.Read(Path.Combine(dir, Checkpoint.FileName));
        Assert.Equal(3, meta.Format);
        Assert.Equal(12, meta.Step);
        Assert.Equal(12, meta.TotalSteps);
        Assert.Equal(1, meta.Seed);
        Assert.Equal(12, meta.MetricsLineCount);
        Assert.Equal(MetricsLog.HashOf(File.ReadAllLines(Path.Combine(dir, MetricsLog.FileName))), meta.MetricsSha256);
        Assert.Contains("fc1.weight.value Float32[8, 64]", meta.Parameters);
        Assert.Contains("fc1.weight.theta0 Float32[8, 64]", meta.Parameters);
        var run = meta.Run!;
        Assert.Equal("sgd(lr = 0.05, momentum = 0.9, weight_decay = 0.0001)", run.Optimizer);
        Assert.Equal("constant", run.Schedule);
        Assert.Equal(64, run.Batch);
        Assert.Equal("cross_entropy(logits, label)", run.Loss);
        Assert.StartsWith("syre(decay = 0.0001, sigma = 0.1) on perm, scale", run.Regularisers);
        Assert.Equal("digits(test_fraction = 0.2)", run.Data);
        Assert.Matches("^[0-9A-F]{64}$", run.DataFingerprint);
    }

    [Theory]
    [InlineData("truncated", "is truncated")]
    [InlineData("flipped tensor byte", "checksum does not match")]
    [InlineData("flipped metadata byte", "checksum does not match")]
    [InlineData("appended bytes", "does not match its header")]
    [InlineData("garbage", "is not a SymDsl checkpoint")]
    [InlineData("empty", "is empty")]
    [InlineData("format 1", "format 1, written by an older symc")]
    [InlineData("format 2", "format 2, written by an older symc")]
    public void A_damaged_or_old_checkpoint_is_a_one_line_error_and_changes_nothing(string damage, string expected)
    {
        var dir = Trained("damaged");
        var path = Path.Combine(dir, Checkpoint.FileName);
        var bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "truncated": File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]); break;
            case "flipped tensor byte": bytes[^40] ^= 0x10; File.WriteAllBytes(path, bytes); break;
            case "flipped metadata byte": bytes[100] ^= 0x01; File.WriteAllBytes(path, bytes); break;
            case "appended bytes": File.WriteAllBytes(path, [.. bytes, 0, 0, 0]); break;
            case "garbage": File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(3000)); break;
            case "empty": File.WriteAllBytes(path, []); break;
            case "format 1":
                using (var w = new BinaryWriter(File.Create(path)))
                {
                    w.Write("SYMDSL-CHECKPOINT-1");
                    w.Write("""{"Model":"Mlp","Seed":1,"Step":12,"TotalSteps":12,"WallSeconds":1,"MetricsLines":[]}""");
                    w.Write(bytes[200..]);
                }
                break;
            case "format 2": // a format-2 tag: refused by the tag, before anything else is read
                using (var w = new BinaryWriter(File.Create(path)))
                {
                    w.Write("SYMDSL-CHECKPOINT-2");
                    w.Write(bytes[20..]);
                }
                break;
        }
        var e = FailedResume(dir, Short());
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    public static TheoryData<string, string> Changes => new()
    {
        { "optimizer adam", "the optimizer differs: sgd(lr = 0.05, momentum = 0.9, weight_decay = 0.0001) in the checkpoint, adam(" },
        { "learning rate", "the optimizer differs: sgd(lr = 0.05, momentum = 0.9, weight_decay = 0.0001) in the checkpoint, sgd(lr = 0.07," },
        { "seed", "it was written with seed 1, this run has seed 2" },
        { "width", "fc1.weight.value Float32[8, 64] in the checkpoint, Float32[16, 64] now" },
        { "no syre", "holds other parameters of model Mlp" },
        { "batch", "the batch size differs: 64 in the checkpoint, 32 now" },
        { "schedule", "the schedule differs: constant in the checkpoint, cosine(min_lr = 0.001) now" },
        { "data", "the data differ: digits(test_fraction = 0.2) in the checkpoint, digits(test_fraction = 0.3) now" },
        { "shorter", "it is at step 12 but this run is only 8 steps long" },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void A_resume_that_differs_from_its_checkpoint_is_refused_naming_the_difference(string change, string expected)
    {
        var dir = Trained("changed");
        var train = change switch
        {
            "optimizer adam" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, optimizer: "adam"),
            "learning rate" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, lr: 0.07),
            "seed" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, seed: 2),
            "no syre" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, syre: false),
            "batch" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, batch: 32),
            "schedule" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, schedule: new ScheduleIR("cosine", Args(("min_lr", D(0.001))), Span)),
            "data" => MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4, data: new DataIR("digits", Args(("test_fraction", D(0.3))), Span)),
            "shorter" => Short(steps: 8),
            _ => Short(),
        };
        var e = FailedResume(dir, train, width: change == "width" ? 16 : 8);
        Assert.StartsWith($"cannot resume from {Path.Combine(dir, Checkpoint.FileName)}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_checkpoint_of_another_model_is_refused()
    {
        var dir = Trained("other-model");
        var (model, train) = TrainerTests.LinearRegression(lr: 0.01, steps: 12);
        var before = Snapshot(dir);
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(model, train), train, new TrainOptions(dir, Resume: true)));
        Assert.Contains("holds a checkpoint of model Mlp, not Lin", e.Message);
        Assert.Equal(before, Snapshot(dir));
    }

    [Fact]
    public void A_checkpoint_does_not_grow_with_the_number_of_steps()
    {
        var shortDir = Trained("size-short", MlpTrain(steps: 12, logEvery: 1, checkpointEvery: 4));
        var longDir = Trained("size-long", MlpTrain(steps: 120, logEvery: 1, checkpointEvery: 4));
        long Size(string dir, string file) => new FileInfo(Path.Combine(dir, file)).Length;
        Assert.Equal(12, File.ReadAllLines(Path.Combine(shortDir, MetricsLog.FileName)).Length);
        Assert.Equal(120, File.ReadAllLines(Path.Combine(longDir, MetricsLog.FileName)).Length);
        Assert.True(Size(longDir, MetricsLog.FileName) - Size(shortDir, MetricsLog.FileName) > 5_000); // 108 more lines
        // Only the digits of the step, the run's length and the wall time may differ.
        Assert.InRange(Size(longDir, Checkpoint.FileName) - Size(shortDir, Checkpoint.FileName), -32, 32);
        var meta = Checkpoint.Read(Path.Combine(longDir, Checkpoint.FileName));
        Assert.Equal(120, meta.MetricsLineCount);
    }

    [Theory]
    [InlineData("edited", "the first 12 lines of")]
    [InlineData("truncated", "has 7 lines, fewer than the checkpoint recorded")]
    [InlineData("emptied", "has 0 lines, fewer than the checkpoint recorded")]
    [InlineData("missing", "does not exist")]
    [InlineData("line replaced", "the first 12 lines of")]
    public void A_metrics_file_that_is_not_the_checkpoints_is_a_one_line_error_and_changes_nothing(string damage, string expected)
    {
        var dir = Trained("metrics-damaged");
        var path = Path.Combine(dir, MetricsLog.FileName);
        var lines = File.ReadAllLines(path);
        switch (damage)
        {
            case "edited": File.WriteAllLines(path, lines.Select((l, i) => i == 5 ? l.Replace("\"step\":6", "\"step\":60") : l)); break;
            case "truncated": File.WriteAllLines(path, lines[..7]); break;
            case "emptied": File.WriteAllText(path, ""); break;
            case "missing": File.Delete(path); break;
            case "line replaced": File.WriteAllLines(path, [.. lines[..11], lines[10]]); break;
        }
        if (damage == "edited") Assert.NotEqual(lines, File.ReadAllLines(path));
        var e = FailedResume(dir, Short(steps: 16));
        Assert.StartsWith($"cannot resume from {Path.Combine(dir, Checkpoint.FileName)}: ", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_resume_keeps_the_checkpoints_metrics_lines_and_drops_those_after_it()
    {
        var dir = Trained("metrics-extra");
        var path = Path.Combine(dir, MetricsLog.FileName);
        var lines = File.ReadAllLines(path);
        // Lines past the checkpoint (a crash after it), and a cut last line (a kill in mid-write), are dropped.
        File.AppendAllText(path, lines[^1].Replace("\"step\":12", "\"step\":13") + "\n{\"step\":14,\"ep");
        var train = Short(steps: 16);
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir, Resume: true));
        var after = File.ReadAllLines(path);
        Assert.Equal(16, after.Length);
        Assert.Equal(lines, after[..12]);
        Assert.Equal(Enumerable.Range(1, 16), after.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()));
        Assert.Equal(MetricsLog.HashOf(after), Checkpoint.Read(Path.Combine(dir, Checkpoint.FileName)).MetricsSha256);
    }

    [Fact]
    public void A_longer_run_resumes_with_a_stated_warning_and_the_summary_counts_every_step()
    {
        var dir = Trained("longer");
        var warnings = new List<string>();
        var train = Short(steps: 20);
        var result = Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir, Resume: true, Warn: warnings.Add));
        Assert.Equal("the checkpoint's run was 12 steps long, this one is 20; continuing from step 12", Assert.Single(warnings));
        Assert.Equal(20, result.Steps);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement;
        Assert.Equal(20, summary.GetProperty("steps").GetInt64());
        Assert.Equal(8, summary.GetProperty("steps_this_process").GetInt64());
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i),
            File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt64()));

        // A schedule that depends on the length says that the steps already done had other learning rates.
        var cosine = MlpTrain(steps: 12, logEvery: 1, schedule: new ScheduleIR("cosine", Args(("min_lr", D(0.001))), Span));
        var dir2 = Trained("longer-cosine", cosine);
        warnings.Clear();
        var longer = MlpTrain(steps: 30, logEvery: 1, schedule: new ScheduleIR("cosine", Args(("min_lr", D(0.001))), Span));
        Trainer.Run(Program(Mlp(8), longer), longer, new TrainOptions(dir2, Resume: true, Warn: warnings.Add));
        Assert.Contains("the schedule now spans 30 steps", Assert.Single(warnings));
    }

    [Fact]
    public void Another_log_interval_or_other_diagnostics_only_warn()
    {
        var dir = Trained("log-interval");
        var warnings = new List<string>();
        var train = MlpTrain(steps: 16, logEvery: 2, checkpointEvery: 4) with { Diagnostics = [] };
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir, Resume: true, Warn: warnings.Add));
        Assert.Equal(3, warnings.Count);
        Assert.Contains("the diagnostics differ (collapse(scale) every 10, balance(scale) every 10, duplicates(perm) every 10, rank(fc1.weight) every 10 in the checkpoint, none now); metrics.jsonl follows the new ones from step 12", warnings);
        Assert.Contains("metrics are logged every 2 steps from step 12 (every 1 before)", warnings);
        Assert.Equal([.. Enumerable.Range(1, 12), 14, 16],
            File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()));
    }

    [Fact]
    public void Two_runs_cannot_write_one_directory_at_once()
    {
        var dir = TempDir("locked");
        var train = Short();
        using (RunLock.Acquire(dir))
        {
            var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir)));
            Assert.Equal($"{dir} is in use by another training run (it holds {Path.Combine(dir, RunLock.FileName)}); wait for it to end or train into another --out directory", e.Message);
            Assert.Equal([RunLock.FileName], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
        }
        // Released: the directory can be trained into (and the lock is held only while a run lasts).
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir));
        using (RunLock.Acquire(dir)) { }
    }

    [Fact]
    public void A_resume_removes_the_temporary_files_of_killed_checkpoint_writes()
    {
        var dir = Trained("stale");
        File.WriteAllText(Path.Combine(dir, ".checkpoint.bin.99999.tmp"), "half a checkpoint");
        File.WriteAllText(Path.Combine(dir, ".checkpoint.bin.123.tmp"), "");
        var train = Short(steps: 14);
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir, Resume: true));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Metrics_and_TensorBoard_hold_every_step_once_after_crashes_and_resumes()
    {
        var train = MlpTrain(steps: 30, logEvery: 1, checkpointEvery: 5);
        var program = Program(Mlp(8), train);
        var full = TempDir("tb-full");
        Trainer.Run(program, train, new TrainOptions(full));

        var crashed = TempDir("tb-crashed");
        foreach (var crashAt in new[] { 13, 14, 22 }) // crashes after steps 13 and 14 both resume from step 10
        {
            Assert.Throws<InvalidOperationException>(() => Trainer.Run(program, train, new TrainOptions(crashed, Resume: crashAt != 13),
                p => { if (p.Step == crashAt) throw new InvalidOperationException("crash"); }));
        }
        Trainer.Run(program, train, new TrainOptions(crashed, Resume: true));

        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.jsonl")), File.ReadAllText(Path.Combine(crashed, "metrics.jsonl")));
        var expected = TensorBoardEvents.Read(Path.Combine(full, "tensorboard"));
        var actual = TensorBoardEvents.Read(Path.Combine(crashed, "tensorboard"));
        // loss and lr at every step, test_loss and test_accuracy at the epoch ends (steps 23 and 30)
        Assert.Equal(30 * 2 + 2 * 2, expected.Count);
        Assert.Equal(expected.Count, expected.DistinctBy(s => (s.Tag, s.Step)).Count());
        Assert.Equal(expected.OrderBy(s => s.Tag, StringComparer.Ordinal).ThenBy(s => s.Step), actual.OrderBy(s => s.Tag, StringComparer.Ordinal).ThenBy(s => s.Step));
    }
}
