using System.Text.Json;
using SymDsl.Cli.Commands;
using SymDsl.Torch.Diagnostics;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary><c>symc align</c> and <c>symc merge</c> on two small trained runs of one model, and their errors.</summary>
public class AlignTests
{
    const string Model = """
        model Mlp(width: int = 24) {
            input x: [64]
            layer fc1 = Linear(64, width)
            layer fc2 = Linear(width, width)
            layer fc3 = Linear(width, 10)
            h1 = relu(fc1(x))
            h2 = relu(fc2(h1))
            output logits = fc3(h2)
        }
        train Mlp {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9)
            batch     64
            steps     60
            seed      1
        }
        """;

    /// <summary>Two runs of <see cref="Model"/> with seeds 1 and 2 in a new directory.</summary>
    static (string Dir, string A, string B) TwoRuns()
    {
        var dir = Symc.TempDir();
        var source = Path.Combine(dir, "mlp.sym");
        File.WriteAllText(source, Model);
        foreach (var seed in new[] { "1", "2" })
        {
            var r = Symc.Run("train", source, "--out", Path.Combine(dir, "s" + seed), "--seed", seed);
            Assert.True(r.ExitCode == 0, r.All);
        }
        return (dir, Path.Combine(dir, "s1"), Path.Combine(dir, "s2"));
    }

    static Dictionary<string, Tensor> Outputs(string run, Dictionary<string, Tensor> inputs)
    {
        var (model, train) = RunManifest.Read(run).Rebuild();
        using var m = RunComparison.Load(model, run, train);
        return m.Forward(inputs).ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    static double MaxRelative(Dictionary<string, Tensor> y, Dictionary<string, Tensor> y2) =>
        y.Max(kv => (kv.Value - y2[kv.Key]).abs().max().item<double>() / kv.Value.abs().max().item<double>());

    [Fact]
    public void Align_lowers_the_barrier_and_writes_a_run_that_computes_Bs_function()
    {
        var (dir, a, b) = TwoRuns();
        var outDir = Path.Combine(dir, "aligned");
        var r = Symc.Run("align", a, b, "--out", outDir, "--probe", "64");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("function check", r.Out);
        Assert.Contains("loss barrier", r.Out);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "align.json")));
        var root = json.RootElement;
        double before = root.GetProperty("barrier_before").GetDouble(), after = root.GetProperty("barrier_after").GetDouble();
        Assert.True(before > 0, $"before {before}");
        Assert.True(after <= before, $"barrier after {after} > before {before}");
        Assert.True(root.GetProperty("function_check").GetProperty("max_relative_output_difference").GetDouble() <= 1e-6);
        Assert.True(root.GetProperty("curve_before").GetArrayLength() >= 11);
        Assert.True(root.GetProperty("curve_after").GetArrayLength() >= 11);
        Assert.Equal(2, root.GetProperty("permutation_spaces").GetArrayLength());
        Assert.True(root.GetProperty("accuracy_barrier_before").GetDouble() >= root.GetProperty("accuracy_barrier_after").GetDouble() - 0.02);
        Assert.True(new FileInfo(Path.Combine(outDir, "barrier.png")).Length > 1000);
        Assert.Contains("barrier.png", File.ReadAllText(Path.Combine(outDir, "align.md")));

        // The aligned run, read back as a run, computes B's function (and differs from B's weights).
        using var scope = NewDisposeScope();
        using var gen = new TorchSharp.torch.Generator(3);
        var inputs = new Dictionary<string, Tensor> { ["x"] = rand([32, 64], ScalarType.Float64, generator: gen) * 16 };
        Assert.True(MaxRelative(Outputs(b, inputs), Outputs(outDir, inputs)) <= 1e-6);
        Assert.Equal(0, Symc.Run("compare", a, outDir, "--probe", "32").ExitCode);

        var act = Symc.Run("align", a, b, "--out", Path.Combine(dir, "act"), "--method", "activations", "--probe", "128");
        Assert.True(act.ExitCode == 0, act.All);
        using var actJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "act", "align.json")));
        Assert.Equal("activations", actJson.RootElement.GetProperty("method").GetString());
        Assert.True(actJson.RootElement.GetProperty("barrier_after").GetDouble() < before);
    }

    [Fact]
    public void Merge_with_alpha_0_or_1_gives_A_or_B_and_repair_writes_a_scored_run()
    {
        var (dir, a, b) = TwoRuns();
        using var scope = NewDisposeScope();
        using var gen = new TorchSharp.torch.Generator(5);
        var inputs = new Dictionary<string, Tensor> { ["x"] = rand([32, 64], ScalarType.Float64, generator: gen) * 16 };
        var zero = Symc.Run("merge", a, b, "--out", Path.Combine(dir, "m0"), "--alpha", "0");
        Assert.True(zero.ExitCode == 0, zero.All);
        Assert.True(MaxRelative(Outputs(a, inputs), Outputs(Path.Combine(dir, "m0"), inputs)) <= 1e-6);
        var one = Symc.Run("merge", a, b, "--out", Path.Combine(dir, "m1"), "--alpha", "1");
        Assert.True(one.ExitCode == 0, one.All);
        Assert.True(MaxRelative(Outputs(b, inputs), Outputs(Path.Combine(dir, "m1"), inputs)) <= 1e-6);

        var half = Symc.Run("merge", a, b, "--out", Path.Combine(dir, "mr"), "--repair", "--probe", "128");
        Assert.True(half.ExitCode == 0, half.All);
        Assert.Contains("REPAIR: permutation(h1), permutation(h2) renormalised", half.Out);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "mr", "merge.json")));
        var merged = json.RootElement.GetProperty("loss").GetProperty("merged").GetDouble();
        Assert.True(double.IsFinite(merged));
        Assert.Equal("merge", RunManifest.Read(Path.Combine(dir, "mr")).DerivedFrom!.Command);
        Assert.True(MaxRelative(Outputs(a, inputs), Outputs(Path.Combine(dir, "mr"), inputs)) > 1e-3); // a new model, not A
    }

    [Fact]
    public void Runs_of_different_models_a_missing_run_and_bad_flags_are_clear_errors()
    {
        var dir = Symc.TempDir();
        var a = Path.Combine(dir, "a");
        var b = Path.Combine(dir, "b");
        Assert.Equal(0, Symc.Run("train", Paths.Example("mlp.sym"), "--out", a, "--steps", "2", "--set", "width=8").ExitCode);
        Assert.Equal(0, Symc.Run("train", Paths.Example("mlp.sym"), "--out", b, "--steps", "2", "--set", "width=16").ExitCode);

        var different = Symc.Run("align", a, b, "--out", Path.Combine(dir, "o"));
        Assert.Equal(ExitCodes.InputError, different.ExitCode);
        Assert.Contains("different models", different.Err);
        Symc.AssertNoStackTrace(different);
        Assert.Single(different.Err.Trim().Split('\n'));

        var missing = Symc.Run("merge", a, Path.Combine(dir, "nope"), "--out", Path.Combine(dir, "o"));
        Assert.Equal(ExitCodes.InputError, missing.ExitCode);
        Assert.Contains("does not exist", missing.Err);
        Symc.AssertNoStackTrace(missing);

        var self = Symc.Run("align", a, a, "--out", a);
        Assert.Equal(ExitCodes.InputError, self.ExitCode);
        Assert.Contains("one of the runs being read", self.Err);
        Assert.False(File.Exists(Path.Combine(a, "align.json")));

        Assert.Equal(ExitCodes.Usage, Symc.Run("align", a, a, "--out", Path.Combine(dir, "o"), "--method", "magic").ExitCode);
        Assert.Equal(ExitCodes.Usage, Symc.Run("merge", a, a, "--out", Path.Combine(dir, "o"), "--alpha", "2").ExitCode);
        Assert.Equal(ExitCodes.Usage, Symc.Run("align", a, a).ExitCode); // --out is required
        Assert.False(Directory.Exists(Path.Combine(dir, "o")));
    }
}
