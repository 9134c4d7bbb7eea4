using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Symmetry;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Diagnostics;

[Collection("torch")]
public class RunComparisonTests
{
    static Dictionary<string, Tensor> Probe(int n = 256)
    {
        using var data = DataSources.Digits(0.2, 1);
        return new Dictionary<string, Tensor> { ["x"] = data.Test["x"].narrow(0, 0, n).to(ScalarType.Float64).clone() };
    }

    static string TrainRun(ModelIR model, TrainIR train, long seed, string name)
    {
        var dir = TempDir(name);
        Trainer.Run(Program(model, train), train, new TrainOptions(dir, Seed: seed));
        return dir;
    }

    [Fact]
    public void A_run_compared_with_itself_has_cka_one_at_every_site()
    {
        var model = Mlp(16);
        var train = MlpTrain(steps: 20, syre: true) with { Diagnostics = [] };
        var dir = TrainRun(model, train, 1, "cka-self");
        var probe = Probe();
        var r = RunComparison.Compare(model, dir, dir, probe, train);
        Assert.Equal(new[] { "h", "logits" }, r.Select(s => s.Site));
        Assert.All(r, s => Assert.Equal(1.0, s.Cka, 9));
        foreach (var t in probe.Values) t.Dispose();
    }

    [Fact]
    public void A_permuted_copy_has_cka_one_and_a_different_seed_does_not()
    {
        var model = Mlp(16);
        var probe = Probe();
        // (The global generator is never used: SourceGuardTests; other tests may draw from it at the same time.)
        using var a = RunComparison.Initial(model, 5);
        using var b = RunComparison.Initial(model, 5);
        var perm = model.Symmetries.First(s => s.Kind == SymmetryKind.Permutation);
        using (var scope = NewDisposeScope())
        {
            var moved = GroupActions.Apply(perm, GroupActions.Sample(perm, new Random(2)), b.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
            b.SetEffectiveParameters(moved);
        }
        var r = RunComparison.Compare(a, b, probe);
        Assert.All(r, s => Assert.Equal(1.0, s.Cka, 9));
        // the permutation moved the hidden units (the raw activations differ), CKA does not see it
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var ha = new Dictionary<string, Tensor>(); var hb = new Dictionary<string, Tensor>();
            a.Forward(probe, new HashSet<string> { "h" }, ha); b.Forward(probe, new HashSet<string> { "h" }, hb);
            Assert.True((ha["h"] - hb["h"]).abs().max().item<double>() > 1e-3);
        }
        var baseline = RunComparison.CompareInitial(model, 5, 6, probe);
        Assert.True(baseline.First(s => s.Site == "h").Cka < 0.999, $"{baseline.First(s => s.Site == "h").Cka}");
        foreach (var t in probe.Values) t.Dispose();
    }

    [Fact]
    public void Rotated_deep_linear_copy_saved_as_a_checkpoint_has_cka_one()
    {
        var model = ModelVerificationTests.Compile(ModelVerificationTests.DeepLinear);
        using var a = RunComparison.Initial(model, 3);
        var dirA = TempDir("rot-a");
        var dirB = TempDir("rot-b");
        using (var f32 = RunComparison.Initial(model, 3)) { f32.to(ScalarType.Float32); Checkpoint.Save(Path.Combine(dirA, Checkpoint.FileName), f32, null, new CheckpointMeta(model.Name, 3, 0, 0, 0, 0, MetricsLog.HashOf([]))); }
        using (var f32 = RunComparison.Initial(model, 3))
        {
            f32.to(ScalarType.Float32);
            using var scope = NewDisposeScope();
            var p = f32.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            foreach (var sym in model.Symmetries.Where(s => s.Kind == SymmetryKind.Rotation))
                p = GroupActions.Apply(sym, GroupActions.Sample(sym, new Random(9), rotation: RotationGroup.Orthogonal), p);
            f32.SetEffectiveParameters(p);
            Checkpoint.Save(Path.Combine(dirB, Checkpoint.FileName), f32, null, new CheckpointMeta(model.Name, 3, 0, 0, 0, 0, MetricsLog.HashOf([])));
        }
        using var g = new Generator(1);
        var probe = new Dictionary<string, Tensor> { ["x"] = randn(new long[] { 64, 6 }, ScalarType.Float64, generator: g) };
        var r = RunComparison.Compare(model, dirA, dirB, probe);
        Assert.Equal(new[] { "h1", "h2", "y" }, r.Select(s => s.Site));
        Assert.All(r, s => Assert.Equal(1.0, s.Cka, 5)); // float32 checkpoints
        Assert.Throws<SymDslException>(() => RunComparison.Compare(model, dirA, TempDir("empty"), probe));
        probe["x"].Dispose();
    }

    [Fact]
    public void Two_trained_seeds_agree_more_than_two_initialisations()
    {
        var model = Mlp(32);
        var train = MlpTrain(steps: 150, syre: false) with { Diagnostics = [] };
        var a = TrainRun(model, train, 1, "seed1");
        var b = TrainRun(model, train, 2, "seed2");
        var probe = Probe();
        var trained = RunComparison.Compare(model, a, b, probe, train);
        var init = RunComparison.CompareInitial(model, 1, 2, probe, train);
        var msg = string.Join(", ", trained.Zip(init, (t, i) => $"{t.Site}: {t.Cka:F3} vs {i.Cka:F3}"));
        foreach (var site in new[] { "h", "logits" })
            Assert.True(trained.First(s => s.Site == site).Cka > init.First(s => s.Site == site).Cka + 0.05, msg);
        foreach (var t in probe.Values) t.Dispose();
    }
}
