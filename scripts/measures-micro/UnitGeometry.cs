// How trained units of examples/mlp.sym look to the duplicates screen: every 10 steps of a run, the units' window-pair
// fractions on the first one, two and three principal projections (radius of cosine 0.99) and the largest movement of a
// unit vector since the previous look. Exploratory (decides the screen's design), not a benchmark.
using SymDsl;
using SymDsl.IR;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

static class UnitGeometry
{
    public static void Run(string root, int width, int steps)
    {
        string text = File.ReadAllText(Path.Combine(root, "examples", "mlp.sym")).Replace("width: int = 128", $"width: int = {width}");
        string dir = Path.Combine(Path.GetTempPath(), "symdsl-geom-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string file = Path.Combine(dir, "mlp.sym");
            File.WriteAllText(file, text);
            var program = Compiler.CompileFile(file).Program!;
            var train = program.Trains[0] with { Diagnostics = [], LogEvery = 1000 };
            var perm = program.Models[0].Symmetries.First(s => s.Kind == SymmetryKind.Permutation);
            Trainer.Run(program, train, new TrainOptions(Path.Combine(dir, "run"), Steps: steps), observers: [new Look(perm)]);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    sealed class Look(SymmetryIR perm) : ITrainingObserver
    {
        Tensor? _previous;
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            if (step % 10 != 0) return;
            using var _ = no_grad();
            var p = context.Model.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float64));
            var u = UnitNorms.UnitVectors(perm, p);
            u = u / u.norm(1, keepdim: true);
            double move = double.NaN;
            if (_previous is not null) move = (u - _previous).norm(1).max().item<double>();
            _previous?.Dispose();
            _previous = u.clone();
            _previous.DetachFromDisposeScope();
            var c = u - u.mean(new long[] { 0 }, keepdim: true);
            var v = torch.linalg.svd(c, fullMatrices: false).Vh; // [k, k]
            var proj = u.matmul(v.narrow(0, 0, 3).t());        // [n, 3]
            double r = Math.Sqrt(2 * (1 - 0.99));
            var d = proj.unsqueeze(0) - proj.unsqueeze(1);       // [n, n, 3]
            var within = d.abs() <= r;
            long n = u.shape[0];
            double pairs = n * (n - 1.0);
            double f1 = (within.select(2, 0).sum().item<long>() - n) / pairs;
            double f2 = ((within.select(2, 0) & within.select(2, 1)).sum().item<long>() - n) / pairs;
            double f3 = ((within.select(2, 0) & within.select(2, 1) & within.select(2, 2)).sum().item<long>() - n) / pairs;
            var sd = proj.std(new long[] { 0 });
            if (step == context.TotalSteps)
            {
                int reps = int.Parse(Environment.GetEnvironmentVariable("GEOM_REPS") ?? "50");
                var times = new List<double>();
                for (int i = 0; i < reps; i++)
                {
                    double t0 = ThreadCpu.Microseconds();
                    Duplicates.FromSymmetry(perm, p, 0.99);
                    times.Add(ThreadCpu.Microseconds() - t0);
                }
                times.Sort();
                var res = Duplicates.FromSymmetry(perm, p, 0.99);
                Console.WriteLine($"duplicates on the trained units: thread CPU median {times[reps / 2]:F0} µs, min {times[0]:F0} µs; clusters {res.Clusters.Count}, max cos {res.MaxOffDiagonalCosine}, bound {res.MaxCosineBound}");
            }
            if (Environment.GetEnvironmentVariable("GEOM_QUIET") is null) Console.WriteLine($"step {step,5}: window fraction 1-D {f1:F3} 2-D {f2:F3} 3-D {f3:F3}; projection sd {string.Join(" ", sd.data<double>().ToArray().Select(x => x.ToString("F3")))}; max unit move since last {move:F4}");
        }
    }
}
