// The cost of one diagnostics evaluation, by part, as the trainer pays it: examples/mlp.sym at a given width with its
// diagnose clause due at every step (inline mode), Trainer.Run for a few hundred steps; after each step an observer reads
// SymmetryDiagnostics.SecondsByMetric and records what this evaluation added to each part. Prints the median per part
// over the evaluations (the first few, which pay one-off JIT and set-up, skipped) and the median training step without
// diagnostics (the same run, no observer) for comparison.
using System.Diagnostics;
using SymDsl;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

static class EvaluationCost
{
    public static void Run(string root, int[] widths)
    {
        foreach (var width in widths)
        {
            string text = File.ReadAllText(Path.Combine(root, "examples", "mlp.sym"))
                .Replace("width: int = 128", $"width: int = {width}")
                .Replace("every 10 steps", "every 1 steps");
            string dir = Path.Combine(Path.GetTempPath(), "symdsl-evalcost-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                string file = Path.Combine(dir, "mlp.sym");
                File.WriteAllText(file, text);
                var c = Compiler.CompileFile(file);
                if (c.HasErrors || c.Program is null) throw new InvalidOperationException(string.Join("\n", c.Diagnostics));
                var program = c.Program;
                var train = program.Trains[0] with { LogEvery = 1000 };
                int steps = width >= 4096 ? 80 : width >= 1024 ? 200 : 400;
                const int skip = 5;

                var plain = new StepClock();
                if (Environment.GetEnvironmentVariable("EVAL_SKIP_PLAIN") is null)
                    Trainer.Run(program, train with { Diagnostics = [] }, new TrainOptions(Path.Combine(dir, "plain"), Steps: steps), observers: [plain]);

                var diagnostics = SymmetryDiagnostics.Create(program.Models[0], train, new DiagnosticsOptions(Mode: DiagnosticsMode.Inline))!;
                var parts = new PartRecorder(diagnostics);
                Trainer.Run(program, train, new TrainOptions(Path.Combine(dir, "diag"), Steps: steps), observers: [diagnostics, parts]);
                diagnostics.Dispose();

                Console.WriteLine($"width {width} ({(Environment.GetEnvironmentVariable("EVAL_WALL") is null ? "thread CPU" : "wall")} time per part): step without diagnostics (wall) median {plain.MedianUs(skip),7:F0} µs; one evaluation median {Median(diagnostics.EvaluationSeconds.Skip(skip).Select(s => s * 1e6)),7:F0} µs");
                var totals = Enumerable.Range(0, parts.Parts.Values.Min(v => v.Count)).Select(i => parts.Parts.Values.Sum(v => v[i])).ToList();
                Console.WriteLine($"  {"sum of parts",-24} median {Median(totals.Skip(skip)),8:F0} µs");
                foreach (var (key, values) in parts.Parts)
                    Console.WriteLine($"  {key,-24} median {Median(values.Skip(skip)),8:F0} µs   mean {values.Skip(skip).Average(),8:F0} µs   first {values[0],9:F0} µs");
            }
            finally { Directory.Delete(dir, recursive: true); }
        }
    }

    static double Median(IEnumerable<double> xs)
    {
        var a = xs.OrderBy(x => x).ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2]);
    }

    /// <summary>Wall time between consecutive OnStep calls (one training step with everything the loop does).</summary>
    sealed class StepClock : ITrainingObserver
    {
        readonly List<double> _us = new();
        long _last;
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            long now = Stopwatch.GetTimestamp();
            if (_last != 0) _us.Add(Stopwatch.GetElapsedTime(_last, now).TotalMicroseconds);
            _last = now;
        }
        public double MedianUs(int skip) => Median(_us.Skip(skip));
    }

    /// <summary>After the diagnostics' OnStep: what this step's evaluation added to each part of SecondsByMetric.</summary>
    sealed class PartRecorder(SymmetryDiagnostics diagnostics) : ITrainingObserver
    {
        Dictionary<string, double> _before = new();
        public SortedDictionary<string, List<double>> Parts { get; } = new(StringComparer.Ordinal);
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            var now = Environment.GetEnvironmentVariable("EVAL_WALL") is null ? diagnostics.CpuSecondsByMetric : diagnostics.SecondsByMetric;
            foreach (var (key, total) in now)
            {
                if (!Parts.TryGetValue(key, out var list)) Parts[key] = list = new();
                list.Add((total - _before.GetValueOrDefault(key)) * 1e6);
            }
            _before = new Dictionary<string, double>(now);
        }
    }
}
