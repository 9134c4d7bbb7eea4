using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SymDsl;
using SymDsl.Bench;
using SymDsl.Bench.Handwritten;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

// bench/run → this program. Writes bench/out/results.json and bench/out/results.md.
// Options: --quick (fewer samples; for a smoke run), --out DIR, --threads N.

bool quick = args.Contains("--quick");
string root = FindRoot();
string outDir = ArgValue("--out") ?? Path.Combine(root, "bench", "out");
int threads = int.TryParse(ArgValue("--threads"), out var t) ? t : Environment.ProcessorCount;
Directory.CreateDirectory(outDir);
torch.set_num_threads(threads);
torch.manual_seed(0);

var results = new Dictionary<string, object?>
{
    ["machine"] = new Dictionary<string, object?>
    {
        ["cores"] = Environment.ProcessorCount,
        ["torch_threads"] = threads,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["dotnet"] = Environment.Version.ToString(),
        ["quick"] = quick,
    },
    ["started_utc"] = DateTime.UtcNow.ToString("o"),
};
var rows = new List<(string Key, string Value, string Target, string Met)>();
int rounds = quick ? 4 : 12, perRound = quick ? 10 : 25;

Console.WriteLine($"SymDsl benchmarks ({threads} torch threads{(quick ? ", quick" : "")})");

// ------------------------------------------------------------------ compiled vs hand-written
var detail = new Dictionary<string, object?>();
double worst = 0;
foreach (var bench in new[]
{
    new Case("mlp", "mlp.sym", () => new HandMlp(256, 512, 10), b => randn(b, 256), 256, Classes: 10),
    new Case("deep_linear", "deeplinear.sym", () => new HandDeepLinear(64, 128, 4, 64), b => randn(b, 64), 256, Classes: 0),
    new Case("attention", "attention.sym", () => new HandAttention(64, 4, 10), b => randn(b, 16, 64), 64, Classes: 10),
})
{
    var ir = CompileModel(bench.File);
    using var compiled = new SymModel(ir, seed: 1);
    using var hand = bench.Hand();
    CopyParameters(compiled, hand);
    var x = bench.Input(bench.Batch);
    var y = bench.Classes > 0 ? randint(0, bench.Classes, bench.Batch, dtype: ScalarType.Int64) : randn(bench.Batch, 64);
    var inputs = new Dictionary<string, Tensor> { [ir.Inputs[0].Name] = x };
    string output = ir.Outputs[0].Name;
    using var optA = optim.SGD(compiled.parameters(), 0.01, momentum: 0.9);
    using var optB = optim.SGD(hand.parameters(), 0.01, momentum: 0.9);
    Tensor Loss(Tensor o) => bench.Classes > 0 ? nn.functional.cross_entropy(o, y) : nn.functional.mse_loss(o, y);

    // Sanity: the same parameters give the same outputs, so both sides do the same work.
    using (no_grad())
    using (NewDisposeScope())
    {
        double diff = (compiled.Forward(inputs)[output] - hand.forward(x)).abs().max().item<float>();
        if (diff > 1e-4) throw new InvalidOperationException($"{bench.Name}: compiled and hand-written outputs differ by {diff}");
    }

    var cmp = StepTimer.Compare(bench.Name,
        () => { using var s = NewDisposeScope(); optA.zero_grad(); Loss(compiled.Forward(inputs)[output]).backward(); optA.step(); },
        () => { using var s = NewDisposeScope(); optB.zero_grad(); Loss(hand.forward(x)).backward(); optB.step(); },
        rounds: rounds, stepsPerRound: perRound);
    worst = Math.Max(worst, cmp.Ratio);
    detail[bench.Name] = new { ratio = cmp.Ratio, compiled_ms = cmp.MedianA * 1e3, handwritten_ms = cmp.MedianB * 1e3, samples = cmp.Samples };
    Console.WriteLine($"  compiled/handwritten {bench.Name,-12} {cmp.Ratio:F3}  ({cmp.MedianA * 1e3:F3} ms vs {cmp.MedianB * 1e3:F3} ms)");
    rows.Add(($"compiled_vs_handwritten[{bench.Name}]", F(cmp.Ratio), "≤ 1.03", Met(cmp.Ratio <= 1.03)));
}
results["compiled_vs_handwritten"] = worst;
results["compiled_vs_handwritten_detail"] = detail;
rows.Insert(rows.Count - 3, ("compiled_vs_handwritten (worst)", F(worst), "≤ 1.03", Met(worst <= 1.03)));

// ------------------------------------------------------------------ syre overhead (full trainer, digits MLP)
{
    var program = CompileProgram(Path.Combine(root, "examples", "mlp.sym"));
    var train = program.Trains[0] with { Diagnostics = [], LogEvery = 10 };
    int steps = quick ? 150 : 500;
    double Time(TrainIR tr) => TrainSecondsPerStep(program, tr, steps);
    var with = new List<double>();
    var without = new List<double>();
    Time(train); // warm-up (JIT, data load)
    for (int i = 0; i < (quick ? 2 : 5); i++)
    {
        with.Add(Time(train));
        without.Add(Time(train with { Breaks = [] }));
    }
    double ratio = StepTimer.Median(with) / StepTimer.Median(without);
    results["syre_overhead"] = ratio;
    results["syre_overhead_detail"] = new { with_ms = StepTimer.Median(with) * 1e3, without_ms = StepTimer.Median(without) * 1e3, steps, repeats = with.Count };
    Console.WriteLine($"  syre overhead            {ratio:F3}  ({StepTimer.Median(with) * 1e3:F3} ms vs {StepTimer.Median(without) * 1e3:F3} ms per step)");
    rows.Add(("syre_overhead", F(ratio), "≤ 1.05", Met(ratio <= 1.05)));
}

// ------------------------------------------------------------------ checker on 5,000 layers
{
    string big = Path.Combine(outDir, "layers5000.sym");
    File.WriteAllText(big, GenerateLayers(5000));
    CompileProgram(Path.Combine(root, "examples", "mlp.sym")); // warm the compiler's code paths
    var times = new List<double>();
    for (int i = 0; i < 3; i++)
    {
        var sw = Stopwatch.StartNew();
        var c = Compiler.CompileFile(big);
        times.Add(sw.Elapsed.TotalSeconds);
        if (c.HasErrors) throw new InvalidOperationException("generated file did not check: " + c.Diagnostics.First());
    }
    double s = StepTimer.Median(times);
    results["check_5000_layers_seconds"] = s;
    Console.WriteLine($"  check 5000 layers        {s:F3} s (in-process, median of 3)");
    rows.Add(("check_5000_layers_seconds", F(s), "≤ 1.0", Met(s <= 1.0)));
}

// ------------------------------------------------------------------ GFLOP/s: MLP step against libtorch's matmul
{
    const int n = 1024;
    var a = randn(n, n);
    var b = randn(n, n);
    double mm = StepTimer.MedianSeconds(() => { using var s = NewDisposeScope(); a.matmul(b); }, warmup: 5, samples: quick ? 10 : 30);
    double matmulGflops = 2.0 * n * n * n / mm / 1e9;

    var ir = CompileModel("mlp.sym");
    using var model = new SymModel(ir, seed: 1);
    const int batch = 256, inDim = 256, width = 512, classes = 10;
    var x = randn(batch, inDim);
    var y = randint(0, classes, batch, dtype: ScalarType.Int64);
    var inputs = new Dictionary<string, Tensor> { ["x"] = x };
    using var opt = optim.SGD(model.parameters(), 0.01, momentum: 0.9);
    double step = StepTimer.MedianSeconds(() =>
    {
        using var s = NewDisposeScope();
        opt.zero_grad();
        nn.functional.cross_entropy(model.Forward(inputs)["logits"], y).backward();
        opt.step();
    }, samples: quick ? 50 : 200);
    // Forward 2·B·(in·w + w·c); backward twice that, minus the input gradient of fc1 (x needs none).
    double flops = 6.0 * batch * (inDim * width + width * classes) - 2.0 * batch * inDim * width;
    double stepGflops = flops / step / 1e9;
    results["matmul_gflops"] = matmulGflops;
    results["mlp_step_gflops"] = stepGflops;
    results["mlp_step_fraction_of_matmul"] = stepGflops / matmulGflops;
    Console.WriteLine($"  GFLOP/s                  MLP step {stepGflops:F1} vs matmul {matmulGflops:F1} ({100 * stepGflops / matmulGflops:F0} %)");
    rows.Add(("mlp_step_gflops", F(stepGflops, "F1"), $"limit: matmul {F(matmulGflops, "F1")}", $"{100 * stepGflops / matmulGflops:F0} % of the limit"));
}

// ------------------------------------------------------------------ live tensors and memory over 10,000 steps
{
    var program = CompileProgram(Path.Combine(root, "examples", "mlp.sym"));
    var ir = program.Models[0];
    using var model = new SymModel(ir, Trainer.Reparametrisations(program.Trains[0]), seed: 1);
    var x = randn(64, 64);
    var y = randint(0, 10, 64, dtype: ScalarType.Int64);
    var inputs = new Dictionary<string, Tensor> { ["x"] = x };
    using var opt = optim.SGD(model.parameters(), 0.01, momentum: 0.9);
    int total = 10_000, every = 1000;
    var live = new List<long>();
    var rss = new List<double>();
    var proc = Process.GetCurrentProcess();
    for (int i = 1; i <= total; i++)
    {
        using (var s = NewDisposeScope())
        {
            opt.zero_grad();
            nn.functional.cross_entropy(model.Forward(inputs)["logits"], y).backward();
            opt.step();
        }
        if (i % every == 0)
        {
            live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            proc.Refresh();
            rss.Add(proc.WorkingSet64 / 1048576.0);
        }
    }
    bool liveFlat = live.Distinct().Count() == 1;
    // Resident memory: the allocator settles during the first thousands of steps; compare the second half.
    double rssGrowth = rss[^1] - rss[rss.Count / 2];
    results["live_tensors"] = new { samples = live, every, flat = liveFlat };
    results["rss_mb"] = new { samples = rss.Select(r => Math.Round(r, 1)), every, growth_second_half_mb = rssGrowth };
    Console.WriteLine($"  live tensors             {string.Join(" ", live)}");
    Console.WriteLine($"  RSS MB                   {string.Join(" ", rss.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))}");
    rows.Add(("live_tensors over 10,000 steps", $"{live[0]} → {live[^1]}", "flat", Met(liveFlat)));
    rows.Add(("rss_mb over 10,000 steps", $"{rss[0]:F0} → {rss[^1]:F0}", "no growth (second half < 5 MB)", Met(rssGrowth < 5)));
}

results["finished_utc"] = DateTime.UtcNow.ToString("o");
File.WriteAllText(Path.Combine(outDir, "results.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
var md = new StringBuilder("| metric | value | target | met |\n|---|---|---|---|\n");
foreach (var r in rows) md.AppendLine($"| {r.Key} | {r.Value} | {r.Target} | {r.Met} |");
File.WriteAllText(Path.Combine(outDir, "results.md"), md.ToString());
Console.WriteLine();
Console.WriteLine(md);
Console.WriteLine($"wrote {Path.Combine(outDir, "results.json")} and results.md");
return 0;

// ------------------------------------------------------------------ helpers

string? ArgValue(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string F(double v, string fmt = "F3") => v.ToString(fmt, CultureInfo.InvariantCulture);
static string Met(bool ok) => ok ? "yes" : "**no**";

ModelIR CompileModel(string file) => CompileProgram(Path.Combine(root, "bench", "models", file)).Models[0];

static ProgramIR CompileProgram(string path)
{
    var c = Compiler.CompileFile(path);
    if (c.HasErrors || c.Program is null) throw new InvalidOperationException(string.Join("\n", c.Diagnostics));
    return c.Program;
}

static void CopyParameters(SymModel from, nn.Module to)
{
    var source = from.IR.Parameters.Select(p => from.EffectiveParameter(p.Name)).ToList();
    var target = to.parameters().ToList();
    if (source.Count != target.Count) throw new InvalidOperationException($"parameter count {source.Count} vs {target.Count}");
    using var _ = no_grad();
    for (int i = 0; i < source.Count; i++)
    {
        if (!source[i].shape.SequenceEqual(target[i].shape))
            throw new InvalidOperationException($"parameter {i}: shape [{string.Join(",", source[i].shape)}] vs [{string.Join(",", target[i].shape)}]");
        target[i].copy_(source[i]);
    }
}

static double TrainSecondsPerStep(ProgramIR program, TrainIR train, int steps)
{
    string dir = Path.Combine(Path.GetTempPath(), "symdsl-bench", Guid.NewGuid().ToString("N"));
    try
    {
        var r = Trainer.Run(program, train, new TrainOptions(dir, Steps: steps));
        return r.WallSeconds / r.Steps;
    }
    finally
    {
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }
}

static string GenerateLayers(int count)
{
    var sb = new StringBuilder("// Generated by bench/run: a chain of ").Append(count).Append(" Linear layers.\nmodel Big(width: int = 8) {\n    input x: [width]\n");
    string prev = "x";
    for (int i = 0; i < count; i++)
    {
        sb.Append("    layer l").Append(i).Append(" = Linear(width, width)\n");
        sb.Append("    h").Append(i).Append(" = relu(l").Append(i).Append('(').Append(prev).Append("))\n");
        prev = "h" + i;
    }
    sb.Append("    layer out = Linear(width, 2)\n    output y = out(").Append(prev).Append(")\n}\n");
    return sb.ToString();
}

static string FindRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SymDsl.sln"))) dir = dir.Parent;
    return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
}

sealed record Case(string Name, string File, Func<nn.Module<Tensor, Tensor>> Hand, Func<int, Tensor> Input, int Batch, int Classes);
