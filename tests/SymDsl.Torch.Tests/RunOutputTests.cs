using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Snapshooter.Xunit;
using SymDsl.Torch.Training;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// A run's outputs byte for byte: metrics.jsonl, summary.json (without its wall-clock keys), the TensorBoard scalars
/// and the plots written, as a Snapshooter snapshot (__snapshots__/) taken from the trainer before it was split into a
/// loop and observers (issue 16), so that the split (and anything after it) provably changes none of them. Every
/// character is compared exactly except the numbers, which agree within <see cref="NumberTolerance"/> (see
/// <see cref="WithinToleranceOfSnapshot"/>).
/// </summary>
[Collection("torch")]
public class RunOutputTests
{
    /// <summary>summary.json's keys that measure time (they differ between any two runs).</summary>
    static readonly string[] WallClockKeys = ["wall_seconds", "seconds_per_step", "train_step_ms"];

    [Fact]
    public void A_small_runs_outputs_match_the_snapshot()
    {
        // 30 steps of 23 per epoch: an epoch end with test metrics at 23 and 30, log lines every 4 steps, checkpoints at
        // 10, 20, 30, an observer's key every 3 steps, a summary key and an event from OnEnd.
        var train = MlpTrain(steps: 30, logEvery: 4, checkpointEvery: 10, syre: false);
        var dir = TempDir("outputs");
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(dir, SymmetryReportMarkdown: "# Symmetries"), observers: [new ProbeObserver()]);
        Snapshot.Match(WithinToleranceOfSnapshot(Outputs(dir)));
    }

    /// <summary>How far (relative) a number of the outputs may be from the snapshot's.</summary>
    public const double NumberTolerance = 1e-5;

    static readonly Regex Number = new(@"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", RegexOptions.CultureInvariant);

    /// <summary>
    /// The snapshot's own text when <paramref name="actual"/> equals it but for numbers within
    /// <see cref="NumberTolerance"/> of each other, else <paramref name="actual"/> (which Snapshooter then reports). A
    /// run's float32 values can differ in the last bit between two runs of the same code: one CI run (of many that passed)
    /// saw the probe loss of step 21 come out 1 ulp apart (1.9789171 against 1.978917) and the run carry that on (losses
    /// 1 ulp apart at steps 24 and 30). The cause is not identified: 25 runs in one process, with and without two threads
    /// of concurrent torch work, wrote identical files. What this test guards is the outputs' content and format, which a
    /// last-bit difference does not change.
    /// </summary>
    static string WithinToleranceOfSnapshot(string actual)
    {
        var name = Snapshot.FullName(); // the calling test's snapshot, as Snapshot.Match finds it
        var file = Path.Combine(name.FolderPath, "__snapshots__", name.Filename);
        if (!File.Exists(file)) return actual;
        var expected = File.ReadAllText(file).TrimStart('\uFEFF');
        var (a, e) = (Number.Matches(actual), Number.Matches(expected));
        if (a.Count != e.Count || Number.Replace(actual, "#") != Number.Replace(expected, "#")) return actual;
        for (var i = 0; i < a.Count; i++)
        {
            var (x, y) = (double.Parse(a[i].Value, CultureInfo.InvariantCulture), double.Parse(e[i].Value, CultureInfo.InvariantCulture));
            if (Math.Abs(x - y) > NumberTolerance * Math.Max(Math.Abs(x), Math.Abs(y))) return actual;
        }
        return expected;
    }

    /// <summary>The outputs of the run in <paramref name="dir"/> that do not depend on the clock, as one text.</summary>
    public static string Outputs(string dir)
    {
        var sb = new StringBuilder();
        sb.Append("metrics.jsonl:\n");
        foreach (var line in File.ReadAllLines(Path.Combine(dir, MetricsLog.FileName))) sb.Append(line).Append('\n');
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, Trainer.SummaryFileName)))!.AsObject();
        foreach (var key in WallClockKeys)
        {
            Assert.True(summary.ContainsKey(key), key);
            summary.Remove(key);
        }
        sb.Append("summary.json:\n").Append(summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true })).Append('\n');
        sb.Append("tensorboard:\n");
        foreach (var s in TensorBoardEvents.Read(Path.Combine(dir, "tensorboard")))
            sb.Append(s.Tag).Append(' ').Append(s.Step).Append(' ').Append(s.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("plots:\n");
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "plots")).Select(Path.GetFileName).Order(StringComparer.Ordinal)) sb.Append(f).Append('\n');
        return sb.ToString();
    }

    /// <summary>Adds the probe batch's loss every 3 steps, a summary key and an event.</summary>
    sealed class ProbeObserver : ITrainingObserver
    {
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            if (step % 3 != 0) return;
            using var _ = no_grad();
            metrics["probe_loss"] = context.Loss(context.ProbeBatch).item<float>();
        }

        public void OnEnd(TrainingContext context, TrainSummary summary)
        {
            summary.Values["probe_steps"] = context.TotalSteps / 3;
            summary.Events.Add(new TrainEvent(context.TotalSteps, "probe", "probed every 3 steps", 1.5));
        }
    }
}
