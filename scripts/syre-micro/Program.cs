// One training step of examples/mlp.sym (64 → width → 10, batch 64, SGD momentum 0.9, weight decay 1e-4) with and
// without `break syre`, timed by phase on one torch thread, the two models alternating step by step (median µs per phase).
using System.Diagnostics;
using System.Globalization;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

torch.set_num_threads(1);
// MICRO_BACKGROUND=torch|managed: a second thread works all the time (float64 torch ops of diagnostics size, or pure
// managed arithmetic) while the steps are timed: does work on the other core slow the training thread?
var background = Environment.GetEnvironmentVariable("MICRO_BACKGROUND");
using var stopBackground = new CancellationTokenSource();
var backgroundThread = background is null ? null : new Thread(() =>
{
    long spins = 0;
    using var bg = new Generator(5);
    while (!stopBackground.IsCancellationRequested)
    {
        if (background == "torch")
        {
            using var scope = NewDisposeScope();
            var a = randn([256, 128], dtype: ScalarType.Float64, generator: bg);
            var w = randn([128, 64], dtype: ScalarType.Float64, generator: bg);
            _ = a.matmul(w).relu().sum().item<double>();
        }
        else { double x = 0; for (int i = 0; i < 100_000; i++) x += Math.Sqrt(i + spins); spins += (long)x & 1; }
    }
}) { IsBackground = true };
backgroundThread?.Start();
if (Environment.GetEnvironmentVariable("MICRO_SECTION") == "1") Console.WriteLine("steps inside NativeSection");
var widths = args.Length > 0 ? args.Select(int.Parse).ToArray() : new[] { 128, 1024, 4096 };
var root = Directory.GetCurrentDirectory();
while (!File.Exists(Path.Combine(root, "SymDsl.sln"))) root = Path.GetDirectoryName(root)!;
foreach (var width in widths)
{
    var c = SymDsl.Compiler.CompileFile(Path.Combine(root, "examples", "mlp.sym"), new SymDsl.CompileOptions(new Dictionary<string, string> { ["width"] = width.ToString(CultureInfo.InvariantCulture) }));
    var train = c.Program!.Trains[0];
    var ir = c.Program.ModelFor(train);
    var sides = new[] { train, train with { Breaks = [] } }.Select(t =>
    {
        var m = new SymModel(ir, Trainer.Reparametrisations(t), seed: 1);
        var opt = Trainer.BuildOptimizer(m, t.Optimizer);
        return (Name: t.Breaks.Count > 0 ? "syre" : "plain", Model: m, Opt: opt, Times: new Dictionary<string, List<double>>());
    }).ToArray();
    var gen = new Generator(3);
    var x = randn([64, 64], generator: gen);
    var y = randint(0, 10, [64], generator: gen);
    var inputs = new Dictionary<string, Tensor> { ["x"] = x };
    int steps = width >= 4096 ? 600 : 3000;
    for (int s = 0; s < steps; s++)
        foreach (var side in sides)
        {
            using var scope = NewDisposeScope();
            if (Environment.GetEnvironmentVariable("MICRO_NOGC") == "1" && System.Runtime.GCSettings.LatencyMode != System.Runtime.GCLatencyMode.NoGCRegion)
                GC.TryStartNoGCRegion(64L << 20); // a bare no-GC region, without NativeSection's bookkeeping
            using var section = Environment.GetEnvironmentVariable("MICRO_SECTION") == "1" ? SymDsl.Torch.Runtime.NativeSection.Enter() : null;
            long t0 = Stopwatch.GetTimestamp();
            side.Model.ZeroGradients(side.Opt); // as the trainer zeroes them (syre: .grad starts at −λθ₀)
            long t1 = Stopwatch.GetTimestamp();
            var loss = Trainer.LossOf("cross_entropy", side.Model.Forward(inputs)["logits"], y);
            long t2 = Stopwatch.GetTimestamp();
            loss.backward();
            long t3 = Stopwatch.GetTimestamp();
            side.Model.OptimizerStep(side.Opt);
            long t4 = Stopwatch.GetTimestamp();
            if (s < steps / 5) continue; // warm-up
            void Add(string k, long a, long b) { if (!side.Times.TryGetValue(k, out var l)) side.Times[k] = l = new(); l.Add(Stopwatch.GetElapsedTime(a, b).TotalMicroseconds); }
            Add("zero_grad", t0, t1); Add("forward+loss", t1, t2); Add("backward", t2, t3); Add("step", t3, t4); Add("total", t0, t4);
        }
    static double Median(List<double> l) { var a = l.OrderBy(v => v).ToArray(); return a[a.Length / 2]; }
    Console.WriteLine($"width {width}: " + string.Join("  ", sides[0].Times.Keys.Select(k => $"{k} {Median(sides[0].Times[k]):F1}/{Median(sides[1].Times[k]):F1}")) + "  (µs, syre/plain)");
}
stopBackground.Cancel();
backgroundThread?.Join(); // before libtorch unloads (a torch call racing the process exit fails inside libtorch)
