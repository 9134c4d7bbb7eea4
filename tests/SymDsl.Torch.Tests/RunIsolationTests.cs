using SymDsl.IR;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// A run owns its randomness: several seeds trained at the same time in one process (threads), while another thread
/// keeps reseeding and drawing from torch's global generator, give exactly what each seed gives alone.
/// </summary>
public class RunIsolationTests
{
    static readonly long[] Seeds = [1, 2, 3];

    static TrainIR Train() => MlpTrain(steps: 40, logEvery: 1, checkpointEvery: 10, optimizer: "adam", lr: 0.01, syre: true);

    static void RunOne(string dir, long seed)
    {
        var train = Train();
        var model = Mlp(16);
        using var diagnostics = SymmetryDiagnostics.Create(model, train);
        Trainer.Run(Program(model, train), train, new TrainOptions(dir, Seed: seed), observers: diagnostics is null ? [] : [diagnostics]);
    }

    [Fact]
    public void Seeds_trained_concurrently_match_the_same_seeds_trained_alone()
    {
        var alone = Seeds.ToDictionary(s => s, s => TempDir($"alone-{s}"));
        foreach (var (seed, dir) in alone) RunOne(dir, seed);

        var together = Seeds.ToDictionary(s => s, s => TempDir($"together-{s}"));
        using var stop = new CancellationTokenSource();
        var disturber = new Thread(() =>
        {
            // Anything that reads or reseeds the global generator would now see a different stream.
            long i = 0;
            while (!stop.IsCancellationRequested)
            {
                torch.manual_seed(i++);
                using var r = torch.randn(64);
            }
        });
        disturber.Start();
        var errors = new List<Exception>();
        var threads = together.Select(kv => new Thread(() =>
        {
            try { RunOne(kv.Value, kv.Key); }
            catch (Exception e) { lock (errors) errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        stop.Cancel();
        disturber.Join();
        Assert.Empty(errors);

        var model = Mlp(16);
        foreach (var seed in Seeds)
        {
            var expected = File.ReadAllText(Path.Combine(alone[seed], "metrics.jsonl"));
            Assert.Equal(expected, File.ReadAllText(Path.Combine(together[seed], "metrics.jsonl")));
            Assert.Contains("duplicates", expected.Split('\n')[0]); // the diagnostics ran too
            using var a = RunComparison.Load(model, alone[seed], Train());
            using var b = RunComparison.Load(model, together[seed], Train());
            var pb = b.state_dict();
            foreach (var (key, t) in a.state_dict())
                Assert.True(t.shape.SequenceEqual(pb[key].shape) && t.eq(pb[key]).all().item<bool>(), $"seed {seed}: {key} differs");
        }
        // Different seeds are different runs (the comparison above can fail).
        Assert.NotEqual(File.ReadAllText(Path.Combine(alone[1], "metrics.jsonl")), File.ReadAllText(Path.Combine(alone[2], "metrics.jsonl")));
    }
}
