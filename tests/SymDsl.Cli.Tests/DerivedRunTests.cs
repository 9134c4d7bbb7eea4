using System.Text.Json;
using SymDsl.Cli.Commands;
using SymDsl.Torch.Diagnostics;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary><see cref="DerivedRun.Write"/>: a run directory from another run's model with other weights, read back by compare's loader.</summary>
public class DerivedRunTests
{
    [Fact]
    public void A_derived_run_holds_the_given_effective_parameters_and_is_read_like_a_trained_run()
    {
        var dir = Symc.TempDir();
        var run = Path.Combine(dir, "run");
        var trained = Symc.Run("train", Paths.Example("mlp.sym"), "--out", run, "--steps", "3", "--set", "width=8"); // with syre offsets
        Assert.True(trained.ExitCode == 0, trained.All);
        var (model, train) = RunManifest.Read(run).Rebuild();

        using var scope = NewDisposeScope();
        using var source = RunComparison.Load(model, run, train);
        var doubled = source.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach() * 2.0);
        var outDir = Path.Combine(dir, "derived");
        DerivedRun.Write(run, outDir, doubled, null, new DerivedFrom("test", [run]) { Details = { ["why"] = "doubling" } });

        using var derived = RunComparison.Load(model, outDir, train);
        foreach (var (name, value) in derived.EffectiveParameters())
            Assert.True(value.allclose(doubled[name], rtol: 1e-6, atol: 1e-7), name);
        Assert.True(File.Exists(Path.Combine(outDir, WeightsExport.FileName)));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, RunManifest.FileName)));
        Assert.Equal("test", json.RootElement.GetProperty("derived_from").GetProperty("command").GetString());
        Assert.Equal(Path.GetFullPath(run), json.RootElement.GetProperty("derived_from").GetProperty("runs")[0].GetString());
        var manifest = RunManifest.Read(outDir);
        Assert.Equal(RunManifest.Read(run).Source, manifest.Source);

        var compared = Symc.Run("compare", run, outDir, "--probe", "16");
        Assert.True(compared.ExitCode == 0, compared.All);
    }

    [Fact]
    public void A_missing_parameter_or_source_checkpoint_is_a_clear_error()
    {
        var dir = Symc.TempDir();
        var run = Path.Combine(dir, "run");
        Assert.Equal(0, Symc.Run("train", Paths.Example("mlp.sym"), "--out", run, "--steps", "2", "--set", "width=8").ExitCode);
        var (model, train) = RunManifest.Read(run).Rebuild();
        using var scope = NewDisposeScope();
        using var source = RunComparison.Load(model, run, train);
        var some = source.EffectiveParameters().Where(kv => kv.Key != "fc2.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
        var e = Assert.Throws<SymDsl.Diagnostics.SymDslException>(() => DerivedRun.Write(run, Path.Combine(dir, "d"), some, null, new DerivedFrom("test", [run])));
        Assert.Contains("fc2.bias", e.Message);
        Assert.False(Directory.Exists(Path.Combine(dir, "d")));
        var none = Assert.Throws<SymDsl.Diagnostics.SymDslException>(() => DerivedRun.Write(Path.Combine(dir, "nope"), Path.Combine(dir, "d"), some, null, new DerivedFrom("test", [run])));
        Assert.Contains("does not exist", none.Message);
    }
}
