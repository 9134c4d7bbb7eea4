// Micro-benchmark of the measures the diagnostics call, on examples/mlp.sym's parameters (64 inputs, 10 outputs) at
// several widths, in float64 as SymmetryDiagnostics passes them. Prints the median µs per call over repeats.
using System.Diagnostics;
using SymDsl.IR;
using SymDsl.Text;
using SymDsl.Torch.Measures;
using TorchSharp;
using static TorchSharp.torch;

// MEASURES_THREADS=1 pins torch to one intra-op thread (steadier timings on a loaded machine).
if (Environment.GetEnvironmentVariable("MEASURES_THREADS") is { Length: > 0 } threads) torch.set_num_threads(int.Parse(threads));
Console.WriteLine($"torch threads: {torch.get_num_threads()}");
// "eval [widths]": the cost of one whole diagnostics evaluation by part, through the trainer (EvaluationCost).
if (args.Length > 0 && args[0] == "eval")
{
    var root = Directory.GetCurrentDirectory();
    EvaluationCost.Run(root, args.Length > 1 ? args.Skip(1).Select(int.Parse).ToArray() : new[] { 128, 1024, 4096 });
    return;
}
if (args.Length > 0 && args[0] == "bytes")
{
    var big = torch.zeros(2_000_000, ScalarType.Float64);
    var sw = Stopwatch.StartNew();
    for (int i = 0; i < 20; i++) { var b = big.bytes; if (b.Length == 0) throw new Exception(); }
    Console.WriteLine($"bytes of 16 MB: {sw.Elapsed.TotalMicroseconds / 20:F0} µs; data<double>: ");
    sw.Restart();
    for (int i = 0; i < 20; i++) { var b = big.data<double>(); if (b.Count == 0) throw new Exception(); }
    Console.WriteLine($"data<double> of 16 MB: {sw.Elapsed.TotalMicroseconds / 20:F0} µs");
    return;
}
if (args.Length > 0 && args[0] == "geometry")
{
    UnitGeometry.Run(Directory.GetCurrentDirectory(), int.Parse(args[1]), int.Parse(args[2]));
    return;
}
var widths = args.Length > 0 ? args.Select(int.Parse).ToArray() : new[] { 128, 1024, 4096 };
foreach (var n in widths)
{
    using var scope = torch.NewDisposeScope();
    var g = new Generator(7);
    var p = new Dictionary<string, Tensor>
    {
        ["fc1.weight"] = torch.randn(new long[] { n, 64 }, ScalarType.Float64, generator: g) / 8.0,
        ["fc1.bias"] = torch.randn(new long[] { n }, ScalarType.Float64, generator: g) * 0.1,
        ["fc2.weight"] = torch.randn(new long[] { 10, n }, ScalarType.Float64, generator: g) / Math.Sqrt(n),
    };
    var grads = p.ToDictionary(kv => kv.Key, kv => torch.randn(kv.Value.shape, ScalarType.Float64, generator: g) * 1e-2);
    ParamActionIR[] actions = [new("fc1.weight", 0, ActionRole.Forward), new("fc1.bias", 0, ActionRole.Forward), new("fc2.weight", 1, ActionRole.Inverse)];
    var perm = new SymmetryIR("perm", SymmetryKind.Permutation, "h", n, 1, actions, true, false, SourceSpan.None("bench.sym"));
    var scale = new SymmetryIR("scale", SymmetryKind.Rescale, "h", n, 1, actions, true, false, SourceSpan.None("bench.sym"));
    int reps = n >= 4096 ? 15 : 60;
    Console.WriteLine($"width {n}:");
    Time("duplicates(perm)", reps, () => Duplicates.FromSymmetry(perm, p, 0.99));
    Time("duplicates exact", Math.Min(reps, 10), () => Duplicates.FromSymmetry(perm, p, 0.99, search: DuplicateSearch.Exact));
    Time("duplicates sign-inv", reps, () => Duplicates.FromSymmetry(perm, p, 0.99, signInvariant: true));
    var fast = Duplicates.FromSymmetry(perm, p, 0.99);
    var exact = Duplicates.FromSymmetry(perm, p, 0.99, search: DuplicateSearch.Exact);
    Console.WriteLine($"  (random units: max cos exact {exact.MaxOffDiagonalCosine:F4}, screened {fast.MaxOffDiagonalCosine:F4} bound {fast.MaxCosineBound})");
    // A collapsing layer: every unit a noisy copy of one of 16 prototypes (clusters of n/16 units).
    var dup = p.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    var idx = torch.arange(n, ScalarType.Int64) % 16;
    dup["fc1.weight"] = dup["fc1.weight"].index_select(0, idx) + 1e-3 * torch.randn(new long[] { n, 64 }, ScalarType.Float64, generator: g);
    dup["fc1.bias"] = dup["fc1.bias"].index_select(0, idx);
    dup["fc2.weight"] = dup["fc2.weight"].index_select(1, idx);
    Time("duplicates 16 clusters", Math.Min(reps, 10), () => Duplicates.FromSymmetry(perm, dup, 0.99));
    Time("rank(fc1.weight)", reps, () => Rank.SingularValues(p["fc1.weight"]));
    Time("rank svd (reference)", reps, () => Rank.SingularValues(p["fc1.weight"], SingularValueMethod.Svd));
    Time("collapse(scale)", reps, () => Collapse.FromSymmetry(scale, p));
    Time("balance(scale)", reps, () => { Balance.RescaleConserved(scale, p); Balance.GradientRatio(scale, grads); });
    Time("unitnorms(scale)", reps, () => UnitNorms.FromSymmetry(scale, p));
    // The probe batch's site values (256 examples, float32 as the MLP trains) for collapse's .dead.
    var acts = torch.nn.functional.relu(torch.randn(new long[] { 256, n }, ScalarType.Float32, generator: g));
    Time("dead units [256, n] f32", reps, () => Collapse.DeadUnits(acts));
    var f32 = p.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32));
    Time("to float64 (snapshot)", reps, () => { using var s = torch.NewDisposeScope(); foreach (var t in f32.Values) t.to(ScalarType.Float64, torch.CPU); });
}

// Timed by the calling thread's CPU time (clock_gettime(CLOCK_THREAD_CPUTIME_ID)): with MEASURES_THREADS=1 torch computes on
// this thread, and the time other processes hold the cores (this machine is shared) is not counted. Wall time alongside.
static void Time(string name, int reps, Action f)
{
    for (int i = 0; i < 3; i++) f();
    var us = new double[reps];
    var wall = new double[reps];
    for (int i = 0; i < reps; i++)
    {
        var sw = Stopwatch.StartNew();
        double t0 = ThreadCpu.Microseconds();
        f();
        us[i] = ThreadCpu.Microseconds() - t0;
        wall[i] = sw.Elapsed.TotalMicroseconds;
    }
    Array.Sort(us);
    Array.Sort(wall);
    Console.WriteLine($"  {name,-24} cpu median {us[reps / 2],9:F0} µs  min {us[0],9:F0} µs   (wall median {wall[reps / 2],9:F0} µs)");
}

static class ThreadCpu
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct Timespec { public long Sec; public long Nsec; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGettime(int clock, out Timespec ts);

    public static double Microseconds()
    {
        ClockGettime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var ts);
        return ts.Sec * 1e6 + ts.Nsec / 1e3;
    }
}
