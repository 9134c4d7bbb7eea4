using SymDsl.IR;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static SymDsl.Torch.Tests.TestPrograms;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// `teleport G every N steps` (Training/Teleporter.cs): the loss is kept (1e-6 relative) and the gradient norm grows on an
/// MLP's rescale and a linear chain's GL(n); a failed check restores the parameters; runs with teleport resume exactly and
/// release every tensor.
/// </summary>
[Collection("torch")]
public class TeleportTests
{
    const string Mlp = """
        model Mlp {
            input x: [64]
            layer fc1 = Linear(64, 16)
            layer fc2 = Linear(16, 10)
            h = relu(fc1(x))
            output logits = fc2(h)
        }
        """;

    const string Chain = """
        model Chain {
            input x: [64]
            layer fc1 = Linear(64, 8)
            layer fc2 = Linear(8, 10)
            z = fc1(x)
            output logits = fc2(z)
        }
        """;

    static ProgramIR Compile(string model, string name, string teleport, int steps = 20, string optimizer = "sgd(lr = 0.05, momentum = 0.9)")
    {
        var text = model + $"\ntrain {name} {{\n data digits(test_fraction = 0.2)\n loss cross_entropy(logits, label)\n optimizer {optimizer}\n batch 32\n steps {steps}\n log every 5 steps\n seed 2\n {teleport}\n}}\n";
        var c = Compiler.CompileText("teleport.sym", text);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return c.Program!;
    }

    /// <summary>The batch loss (float32, as training computes it) and the gradient norm over the raw parameters, by ordinary backward.</summary>
    static (double Loss, double GradNorm) Measure(SymModel model, IReadOnlyDictionary<string, Tensor> batch)
    {
        using var scope = NewDisposeScope();
        model.zero_grad();
        var loss = Trainer.LossOf("cross_entropy", model.Forward(batch)["logits"], batch["label"]);
        loss.backward();
        var norm = Math.Sqrt(model.parameters().Sum(p => p.grad is { } g ? g.square().sum().item<float>() : 0.0));
        model.zero_grad();
        return (loss.item<float>(), norm);
    }

    static (SymModel Model, Data.DataSet Data, Dictionary<string, Tensor> Batch, TrainIR Train, ModelIR IR) Setup(string source, string name, string teleport)
    {
        var program = Compile(source, name, teleport);
        var train = program.Trains[0];
        var ir = program.ModelFor(train);
        var model = new SymModel(ir, Trainer.Reparametrisations(train, ir), seed: 5);
        model.SetMode(Lowering.Layers.ForwardMode.Verify);
        var data = Data.DataSources.Digits(0.2, 1);
        var idx = arange(0, 64, dtype: ScalarType.Int64);
        var batch = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
        return (model, data, batch, train, ir);
    }

    static void KeepsLossAndRaisesGradientNorm(string source, string name, string group)
    {
        var (model, data, batch, train, ir) = Setup(source, name, $"teleport {group} every 5 steps");
        using var _m = model; using var _d = data;
        var sym = ir.Symmetries.Single(s => s.Name == train.Teleports[0].Symmetries[0]);
        var before = Measure(model, batch);
        var outcome = Teleporter.Teleport(model, [sym], batch, train.Loss);
        var after = Measure(model, batch);

        Assert.True(outcome.Applied, $"not applied: {outcome}");
        Assert.Null(outcome.Skipped);
        Assert.InRange(outcome.RelativeLossChange, 0, 1e-6);
        Assert.True(outcome.AcceptedSteps > 0);
        Assert.True(outcome.GradNormAfter > outcome.GradNormBefore * 1.05, $"{outcome.GradNormBefore} → {outcome.GradNormAfter}");
        // Independently of the teleporter's own float64 numbers: the float32 loss training sees, and ordinary backward.
        Assert.True(Math.Abs(after.Loss - before.Loss) <= 1e-5 * Math.Abs(before.Loss), $"loss {before.Loss} → {after.Loss}");
        Assert.True(after.GradNorm > before.GradNorm * 1.05, $"gradient norm {before.GradNorm} → {after.GradNorm}");
        Assert.Equal(outcome.GradNormBefore, before.GradNorm, 3);
        // The parameters did move.
        using var fresh = new SymModel(ir, Trainer.Reparametrisations(train, ir), seed: 5);
        Assert.False(fresh.EffectiveParameter("fc1.weight").allclose(model.EffectiveParameter("fc1.weight")));
    }

    [Fact]
    public void Rescale_of_an_MLP_keeps_the_loss_and_raises_the_gradient_norm() => KeepsLossAndRaisesGradientNorm(Mlp, "Mlp", "rescale(h)");

    [Fact]
    public void GL_of_a_linear_chain_keeps_the_loss_and_raises_the_gradient_norm() => KeepsLossAndRaisesGradientNorm(Chain, "Chain", "rotation(z)");

    [Fact]
    public void A_failed_loss_check_restores_the_parameters_bit_for_bit_and_says_why()
    {
        var (model, data, batch, train, ir) = Setup(Mlp, "Mlp", "teleport rescale(h) every 5 steps");
        using var _m = model; using var _d = data;
        // Not a symmetry: h's units scaled on both sides (fc2's columns multiplied instead of divided) change the function.
        var wrong = new SymmetryIR("wrong", SymmetryKind.Rescale, "h", 16, 1,
            [new("fc1.weight", 0, ActionRole.Forward), new("fc1.bias", 0, ActionRole.Forward), new("fc2.weight", 1, ActionRole.Forward)], false, true, Span);
        var saved = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var outcome = Teleporter.Teleport(model, [wrong], batch, train.Loss);
        Assert.False(outcome.Applied);
        Assert.NotNull(outcome.Skipped);
        Assert.Contains("the parameters were restored", outcome.Skipped);
        Assert.True(outcome.RelativeLossChange > 1e-6);
        foreach (var (k, v) in model.state_dict()) Assert.True(v.eq(saved[k]).all().item<bool>(), $"{k} was not restored");
        Assert.Equal(Lowering.Layers.ForwardMode.Verify, model.Mode); // the mode is left as it was
    }

    [Fact]
    public void A_teleport_leaves_no_live_tensors()
    {
        var (model, data, batch, train, ir) = Setup(Mlp, "Mlp", "teleport rescale(h) every 5 steps");
        using var _m = model; using var _d = data;
        var sym = ir.Symmetries.Single(s => s.Kind == SymmetryKind.Rescale);
        Teleporter.Teleport(model, [sym], batch, train.Loss); // warm-up
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 3; i++) Teleporter.Teleport(model, [sym], batch, train.Loss);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void A_run_with_teleport_logs_each_teleport_releases_its_tensors_and_resumes_exactly()
    {
        var program = Compile(Mlp, "Mlp", "teleport rescale(h) every 5 steps");
        var train = program.Trains[0];
        var full = TempDir("teleport-full");
        Trainer.Run(program, train, new TrainOptions(TempDir("teleport-warm"), CheckpointEvery: 4)); // warm-up: lazily created globals
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var fullResult = Trainer.Run(program, train, new TrainOptions(full, CheckpointEvery: 4));
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);

        var lines = File.ReadAllLines(Path.Combine(full, "metrics.jsonl"));
        var teleported = lines.Where(l => l.Contains("teleport_grad_norm_before")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([1L, 6, 11, 16], teleported.Select(e => e.GetProperty("step").GetInt64()));
        Assert.All(teleported, e => Assert.True(e.GetProperty("teleport_loss_change").GetDouble() <= 1e-6));
        Assert.Contains(teleported, e => e.GetProperty("teleport_grad_norm_after").GetDouble() > e.GetProperty("teleport_grad_norm_before").GetDouble());
        var summary = File.ReadAllText(Path.Combine(full, Trainer.SummaryFileName));
        Assert.Contains("\"teleports_applied\"", summary);

        var part = TempDir("teleport-part");
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            Trainer.Run(program, train, new TrainOptions(part, CheckpointEvery: 4), p => { if (p.Step == 9) cts.Cancel(); }, cts.Token));
        var resumed = Trainer.Run(program, train, new TrainOptions(part, Resume: true, CheckpointEvery: 4));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.jsonl")), File.ReadAllText(Path.Combine(part, "metrics.jsonl")));
        Assert.Equal(fullResult.TestLoss, resumed.TestLoss);
        var ir = program.ModelFor(train);
        using var a = RunComparison.Load(ir, full, train);
        using var b = RunComparison.Load(ir, part, train);
        var sb = b.state_dict();
        foreach (var (key, t) in a.state_dict()) Assert.True(t.eq(sb[key]).all().item<bool>(), $"{key} differs after the resume");

        // The same run without the clause trains differently (the teleports changed the trajectory).
        var plain = Compile(Mlp, "Mlp", "");
        var other = TempDir("teleport-none");
        Trainer.Run(plain, plain.Trains[0], new TrainOptions(other, CheckpointEvery: 4));
        using var c = RunComparison.Load(ir, other, plain.Trains[0]);
        Assert.False(c.EffectiveParameter("fc1.weight").allclose(a.EffectiveParameter("fc1.weight")));
    }
}
