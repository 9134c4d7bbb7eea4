using System.Text.Json;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Training;

namespace SymDsl.Torch.Tests.Diagnostics;

/// <summary>
/// The cost measurement of docs/diagnostics.md ("Cost"): examples/mlp.sym for 300 steps with and without its diagnose
/// clause, 4 alternating repetitions. A benchmark, not a test: remove Skip to run it
/// (<c>T1=1 dotnet test tests/SymDsl.Torch.Tests --filter FullyQualifiedName~DiagnosticsCostBenchmark</c>; T1=1 limits
/// torch to one thread); the numbers go to the test output.
/// </summary>
[Collection("torch")]
public class DiagnosticsCostBenchmark(Xunit.Abstractions.ITestOutputHelper output)
{
    static double Median(IEnumerable<double> v) { var a = v.OrderBy(x => x).ToArray(); return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }

    [Fact(Skip = "benchmark (docs/diagnostics.md, Cost): run by hand")]
    public void Mlp_300_steps_with_and_without_diagnostics()
    {
        if (Environment.GetEnvironmentVariable("T1") == "1") TorchSharp.torch.set_num_threads(1);
        var c = SymDsl.Compiler.CompileFile(Paths.Example("mlp.sym"));
        Assert.False(c.HasErrors);
        var program = c.Program!;
        var train = program.Trains[0];
        var model = program.Models[0];
        var log = new List<string>();
        var walls = new Dictionary<bool, List<double>> { [false] = new(), [true] = new() };
        var ratios = new List<double>();
        for (int rep = 0; rep < 4; rep++)
        {
            foreach (var with in new[] { false, true })
            {
                var dir = TestPrograms.TempDir("bench");
                using var diag = SymmetryDiagnostics.Create(model, train)!;
                var stepTimes = new List<double>();
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var last = sw.Elapsed;
                Trainer.Run(program, train, new TrainOptions(dir, Steps: 300), p => { stepTimes.Add((sw.Elapsed - last).TotalSeconds); last = sw.Elapsed; }, observers: with ? [diag] : []);
                var trainSeconds = stepTimes.Sum();
                walls[with].Add(trainSeconds);
                if (with)
                {
                    var evalMedian = Median(diag.EvaluationSeconds.Skip(1));
                    var plainSteps = Median(stepTimes);
                    ratios.Add(evalMedian / (10 * plainSteps));
                    log.Add(string.Join(", ", diag.SecondsByMetric.Select(kv => $"{kv.Key}={kv.Value * 1000 / diag.Evaluations:F3}ms")));
                    log.Add($"rep {rep} with: loop={trainSeconds:F3}s diag total={diag.Seconds:F3}s first eval={diag.EvaluationSeconds[0] * 1000:F1}ms median eval={evalMedian * 1000:F3}ms median step={plainSteps * 1000:F3}ms => per-10-steps overhead {ratios[^1] * 100:F1}%");
                }
                else log.Add($"rep {rep} without: loop={trainSeconds:F3}s median step={Median(stepTimes) * 1000:F3}ms");
            }
        }
        log.Add($"median loop without={Median(walls[false]):F3}s with={Median(walls[true]):F3}s => {(Median(walls[true]) / Median(walls[false]) - 1) * 100:F1}% ; median steady-state overhead {Median(ratios) * 100:F1}%");
        foreach (var line in log) output.WriteLine(line);
        File.WriteAllLines(Path.Combine(Path.GetTempPath(), "symdsl-diagnostics-cost.txt"), log);
    }
}
