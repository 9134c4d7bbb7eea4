using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

[Collection("torch")]
public class TrainerTests
{
    [Fact]
    public void Mlp_trains_and_writes_every_output()
    {
        var dir = TempDir("mlp");
        var progress = new List<TrainProgress>();
        var result = Trainer.Run(Program(Mlp(32), MlpTrain(epochs: 2, syre: true)), MlpTrain(epochs: 2, syre: true),
            new TrainOptions(dir, SymmetryReportMarkdown: "# Symmetries\n- perm <ok>"), progress.Add);
        Assert.Equal(Enumerable.Range(1, 46).Select(i => (long)i), progress.Select(p => p.Step));
        Assert.All(progress, p => Assert.Equal(46, p.TotalSteps));
        Assert.Equal(1, progress[^1].Epoch);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        Assert.Empty(Directory.GetFiles(dir, ".*.tmp"));
        Assert.Equal(46, result.Steps); // ceil(1438 / 64) = 23 steps per epoch
        Assert.True(result.TestAccuracy > 0.7, $"accuracy {result.TestAccuracy}");
        Assert.True(result.TrainLoss < 1.0, $"train loss {result.TrainLoss}");
        Assert.Equal(64 * 32 + 32 + 32 * 10 + 10, result.ParameterCount);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement;
        foreach (var key in new[] { "train_loss", "test_loss", "test_accuracy", "wall_seconds", "parameter_count", "steps", "events" })
            Assert.True(summary.TryGetProperty(key, out _), key);
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"));
        Assert.NotEmpty(lines);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        foreach (var key in new[] { "step", "epoch", "loss", "lr" }) Assert.True(first.TryGetProperty(key, out _), key);
        Assert.True(File.Exists(Path.Combine(dir, "checkpoint.bin")));
        Assert.True(File.Exists(Path.Combine(dir, "plots", "loss.png")));
        Assert.True(File.Exists(Path.Combine(dir, "plots", "test_accuracy.png")));
        var events = Directory.GetFiles(Path.Combine(dir, "tensorboard"), "events.out.tfevents.*", SearchOption.AllDirectories);
        Assert.NotEmpty(events);
        var eventBytes = File.ReadAllBytes(events[0]);
        Assert.Contains("test_accuracy", System.Text.Encoding.Latin1.GetString(eventBytes));
        var html = File.ReadAllText(Path.Combine(dir, "report.html"));
        Assert.Contains("data:image/png;base64,", html);
        Assert.Contains("perm &lt;ok&gt;", html);
        Assert.Contains("test_accuracy", html);
    }

    [Fact]
    public void One_training_step_lowers_the_loss_on_its_batch()
    {
        using var model = new SymModel(Mlp(16), seed: 3);
        using var opt = Trainer.BuildOptimizer(model, MlpTrain(syre: false).Optimizer);
        using var data = Data.DataSources.Digits(0.2, 1);
        var batch = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, 64));
        double Loss()
        {
            using var _ = no_grad();
            using var s = NewDisposeScope();
            return Trainer.LossOf("cross_entropy", model.Forward(batch)["logits"], batch["label"]).item<float>();
        }
        var before = Loss();
        using (var s = NewDisposeScope())
        {
            opt.zero_grad();
            Trainer.LossOf("cross_entropy", model.Forward(batch)["logits"], batch["label"]).backward();
            opt.step();
        }
        Assert.True(Loss() < before, $"{Loss()} >= {before}");
    }

    [Fact]
    public void A_training_step_leaves_no_live_tensors()
    {
        using var model = new SymModel(Mlp(16), Trainer.Reparametrisations(MlpTrain(syre: true)), seed: 3);
        using var opt = Trainer.BuildOptimizer(model, MlpTrain(syre: true).Optimizer);
        using var data = Data.DataSources.Digits(0.2, 1);
        void Step(int i)
        {
            using var scope = NewDisposeScope();
            var idx = arange(i * 32, i * 32 + 32, dtype: ScalarType.Int64);
            var b = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
            opt.zero_grad();
            var loss = Trainer.LossOf("cross_entropy", model.Forward(b)["logits"], b["label"]);
            loss.backward();
            opt.step();
        }
        Step(0); Step(1); // optimizer state and gradients are allocated on the first steps
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 2; i < 7; i++) Step(i);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void A_whole_run_releases_every_tensor_it_created()
    {
        var train = MlpTrain(steps: 30, checkpointEvery: 10);
        var obs = new CountingObserver();
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(TempDir("warm")), observers: [obs]); // warm-up: lazily created globals
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(TempDir("leak")), observers: [obs]);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Command_line_overrides_set_the_length_and_seed()
    {
        var train = MlpTrain(epochs: 20);
        Assert.Equal(7, Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(TempDir("steps"), Steps: 7)).Steps);
        Assert.Equal(23, Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(TempDir("epochs"), Epochs: 1)).Steps);
        var dir = TempDir("seed");
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(dir, Steps: 2, Seed: 9));
        Assert.Contains("\"seed\": 9", File.ReadAllText(Path.Combine(dir, "summary.json")));
    }

    [Fact]
    public void Same_seed_gives_identical_metrics()
    {
        var train = MlpTrain(steps: 30, logEvery: 1);
        var a = TempDir("det-a");
        var b = TempDir("det-b");
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(a));
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(b));
        Assert.Equal(File.ReadAllText(Path.Combine(a, "metrics.jsonl")), File.ReadAllText(Path.Combine(b, "metrics.jsonl")));
        var c = TempDir("det-c");
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(c, Seed: 2));
        Assert.NotEqual(File.ReadAllText(Path.Combine(a, "metrics.jsonl")), File.ReadAllText(Path.Combine(c, "metrics.jsonl")));
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void Resumed_run_matches_an_uninterrupted_one(string optimizer)
    {
        var schedule = new ScheduleIR("cosine", Args(("min_lr", D(0.001)), ("warmup", I(3))), Span);
        var train = MlpTrain(steps: 40, logEvery: 1, checkpointEvery: 20, schedule: schedule, optimizer: optimizer, lr: optimizer == "sgd" ? 0.05 : 0.01);
        var program = Program(Mlp(16), train);
        var full = TempDir("full");
        var fullResult = Trainer.Run(program, train, new TrainOptions(full));

        var part = TempDir("part");
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            Trainer.Run(program, train, new TrainOptions(part), p => { if (p.Step == 25) cts.Cancel(); }, cts.Token));
        // The run was interrupted after step 25: it checkpointed there, so the resume starts at 25.
        Assert.Equal(25, File.ReadAllLines(Path.Combine(part, "metrics.jsonl")).Length);
        using (var probe = new SymModel(Mlp(16), Trainer.Reparametrisations(train)))
            Assert.Equal(25, Checkpoint.Load(Path.Combine(part, Checkpoint.FileName), probe, null).Step);
        var resumed = Trainer.Run(program, train, new TrainOptions(part, Resume: true));

        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.jsonl")), File.ReadAllText(Path.Combine(part, "metrics.jsonl")));
        Assert.Equal(fullResult.TrainLoss, resumed.TrainLoss);
        Assert.Equal(fullResult.TestLoss, resumed.TestLoss);
        Assert.Equal(fullResult.TestAccuracy, resumed.TestAccuracy);

        // Final raw parameters and buffers are identical.
        using var m1 = new SymModel(Mlp(16), Trainer.Reparametrisations(train));
        using var m2 = new SymModel(Mlp(16), Trainer.Reparametrisations(train));
        Checkpoint.Load(Path.Combine(full, Checkpoint.FileName), m1, null);
        Checkpoint.Load(Path.Combine(part, Checkpoint.FileName), m2, null);
        var s1 = m1.state_dict();
        var s2 = m2.state_dict();
        Assert.Equal(s1.Keys.OrderBy(k => k), s2.Keys.OrderBy(k => k));
        foreach (var k in s1.Keys) Assert.True(Same(s1[k], s2[k]), k);
    }

    [Fact]
    public void Resume_after_a_crash_drops_metrics_past_the_last_checkpoint()
    {
        var train = MlpTrain(steps: 30, logEvery: 1, checkpointEvery: 10);
        var program = Program(Mlp(16), train);
        var full = TempDir("crash-full");
        Trainer.Run(program, train, new TrainOptions(full));
        // Simulate a crash after step 17 (an exception, not a cancellation): the last checkpoint is step 10's.
        var crashed = TempDir("crash");
        Assert.Throws<InvalidOperationException>(() =>
            Trainer.Run(program, train, new TrainOptions(crashed), p => { if (p.Step == 17) throw new InvalidOperationException("crash"); }));
        using (var m = new SymModel(Mlp(16), Trainer.Reparametrisations(train)))
            Assert.Equal(10, Checkpoint.Load(Path.Combine(crashed, Checkpoint.FileName), m, null).Step);
        Assert.Equal(17, File.ReadAllLines(Path.Combine(crashed, "metrics.jsonl")).Length);
        Trainer.Run(program, train, new TrainOptions(crashed, Resume: true));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.jsonl")), File.ReadAllText(Path.Combine(crashed, "metrics.jsonl")));
    }

    [Fact]
    public void Syre_theta0_is_restored_exactly_from_a_checkpoint()
    {
        var train = MlpTrain(steps: 5);
        var dir = TempDir("syre");
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(dir));
        using var trained = new SymModel(Mlp(16), Trainer.Reparametrisations(train), seed: 1);
        Checkpoint.Load(Path.Combine(dir, Checkpoint.FileName), trained, null);
        using var other = new SymModel(Mlp(16), Trainer.Reparametrisations(train), seed: 999); // a different θ₀, overwritten by the checkpoint
        var before = other.state_dict()["fc1.weight.theta0"].clone();
        Checkpoint.Load(Path.Combine(dir, Checkpoint.FileName), other, null);
        var theta0 = other.state_dict()["fc1.weight.theta0"];
        Assert.False(Same(before, theta0));
        Assert.True(Same(theta0, trained.state_dict()["fc1.weight.theta0"]));
        // θ₀ is a buffer, never trained: equal to the draw at the start of the run.
        using var fresh = new SymModel(Mlp(16), Trainer.Reparametrisations(train), seed: 1);
        Assert.True(Same(fresh.state_dict()["fc1.weight.theta0"], theta0));
        Assert.False(Same(fresh.state_dict()["fc1.weight.value"], other.state_dict()["fc1.weight.value"]));
    }

    [Fact]
    public void Syre_parameters_get_their_own_weight_decay_group()
    {
        var train = MlpTrain(syre: true);
        using var model = new SymModel(Mlp(8), Trainer.Reparametrisations(new TrainIR(train.Model, train.Data, train.Loss, train.Optimizer, null, 64, 1, null, 1, 10, null,
            [new BreakIR("syre", Args(("sigma", D(0.1)), ("decay", D(0.05))), ["perm"], ["fc1.weight"], Span)], [], [], Span)));
        Assert.Equal(0.05, model.RawWeightDecay["fc1.weight.value"]);
        Assert.Single(model.RawWeightDecay);
        using var opt = Trainer.BuildOptimizer(model, train.Optimizer);
        Assert.Equal(2, opt.ParamGroups.Count());
    }

    [Fact]
    public void Observers_see_every_step_and_add_metrics_and_events()
    {
        var obs = new CountingObserver();
        var train = MlpTrain(steps: 12, logEvery: 5);
        var dir = TempDir("obs");
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(dir), observers: [obs]);
        Assert.Equal(1, obs.Started);
        Assert.Equal(12, obs.Steps);
        Assert.Equal(1, obs.Ended);
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([3L, 6L, 9L, 12L], lines.Where(l => l.TryGetProperty("probe_loss", out _)).Select(l => l.GetProperty("step").GetInt64()));
        Assert.True(File.Exists(Path.Combine(dir, "plots", "probe_loss.png")));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement;
        Assert.Equal("done", summary.GetProperty("events")[0].GetProperty("kind").GetString());
        Assert.Equal(42, summary.GetProperty("observer_key").GetInt32());
    }

    [Fact]
    public void An_observer_that_reads_the_gradients_sees_the_loss_gradient_and_otherwise_syre_starts_them_at_minus_decay_theta0()
    {
        // syre (decay 1e-4 on fc1 and fc2.weight) under SGD with momentum: .grad starts a step at −λθ₀ instead of 0 unless an
        // observer reads it at that step (ITrainingObserver.ReadsGradients); then it is the loss gradient itself.
        var train = MlpTrain(steps: 6);
        var reading = new GradientReader(reads: true);
        var notReading = new GradientReader(reads: false);
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(TempDir("grad-read")), observers: [reading]);
        Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(TempDir("grad-prefilled")), observers: [notReading]);
        Assert.Equal(6, reading.Steps.Count);
        Assert.All(reading.Steps, s => Assert.True(s.FromLoss < 1e-6, $"{s.FromLoss:E2} from the loss gradient"));
        Assert.Equal(6, notReading.Steps.Count);
        Assert.True(notReading.Steps[0].FromLoss < 1e-6); // step 1: no .grad yet to start from
        Assert.All(notReading.Steps.Skip(1), s =>
        {
            Assert.True(s.FromPrefilled < 1e-6, $"{s.FromPrefilled:E2} from g − λθ₀");
            Assert.True(s.FromLoss > 1e-5, $"{s.FromLoss:E2}: not the loss gradient"); // λθ₀ is ~1e-3 of g here
        });
    }

    /// <summary>Compares, after each backward pass, the offset tensors' .grad with the loss gradient computed afresh (autograd.grad on the step's batch), relative to its largest entry.</summary>
    sealed class GradientReader(bool reads) : ITrainingObserver
    {
        public List<(double FromLoss, double FromPrefilled)> Steps { get; } = new();
        IReadOnlyDictionary<string, Tensor>? _batch;
        public bool ReadsGradients(long step) => reads;
        public void OnBeforeStep(TrainingContext context, long step, IReadOnlyDictionary<string, Tensor> batch) => _batch = batch;
        public void OnGradients(TrainingContext context, long step)
        {
            var offsets = context.Model.named_parameters().Where(np => np.name.EndsWith(".value")).ToList();
            Assert.Equal(3, offsets.Count);
            var fresh = autograd.grad([context.Loss(_batch!)], offsets.Select(np => (Tensor)np.parameter).ToList(), allow_unused: true);
            var sd = context.Model.state_dict();
            double fromLoss = 0, fromPrefilled = 0;
            foreach (var ((name, p), g) in offsets.Zip(fresh))
            {
                var minusDecayTheta0 = sd[name[..^"value".Length] + "theta0"] * -context.Model.RawWeightDecay[name];
                var scale = g.abs().max().item<float>();
                fromLoss = Math.Max(fromLoss, (p.grad! - g).abs().max().item<float>() / scale);
                fromPrefilled = Math.Max(fromPrefilled, (p.grad! - (g + minusDecayTheta0)).abs().max().item<float>() / scale);
            }
            Steps.Add((fromLoss, fromPrefilled));
        }
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics) { }
    }

    sealed class CountingObserver : ITrainingObserver
    {
        public int Started, Steps, Ended;
        public void OnStart(TrainingContext context) => Started++;
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            Steps++;
            if (step % 3 != 0) return;
            using var _ = no_grad();
            metrics["probe_loss"] = context.Loss(context.ProbeBatch).item<float>();
        }
        public void OnEnd(TrainingContext context, TrainSummary summary)
        {
            Ended++;
            summary.Values["observer_key"] = 42;
            summary.Events.Add(new TrainEvent(context.TotalSteps, "done", "finished"));
        }
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    // ---------------------------------------------------------------- errors

    [Fact]
    public void Input_shape_mismatch_names_both_shapes()
    {
        var g = new Graph();
        var x = g.Input("x", [32]);
        var y = g.Layer("fc", x, [10]);
        var model = new ModelIR("Bad", Args(), [new InputIR("x", [32], ElementType.Float32, Span)], [Linear("fc", 32, 10)], g.Nodes, [new OutputIR("logits", y)], [], Span);
        var train = MlpTrain(steps: 1, syre: false) with { Model = "Bad" };
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(model, train), train, new TrainOptions(TempDir("shape"))));
        Assert.Contains("[64]", e.Message);
        Assert.Contains("[32]", e.Message);
    }

    [Theory]
    [InlineData("rk2")]
    [InlineData("attention")]
    public void Sequence_models_train_on_digits_rows(string kind)
    {
        // digits x [64] is read as 8 rows of 8 pixels: an ODE-RNN or a causal attention layer, then the last step.
        var g = new Graph();
        var x = g.Input("x", [8, 8]);
        var h = g.Layer("seq", x, [8, 16], "h");
        var last = g.Op(OpKind.Last, [h], [16], "s");
        var y = g.Layer("readout", last, [10], "logits");
        LayerIR seq = kind == "attention"
            ? new("seq", LayerKind.SelfAttention, Args(("d", I(8)), ("heads", I(2)), ("causal", B(true)), ("bias", B(true))),
                new[] { "q", "k", "v", "o" }.SelectMany(n => new[] { Param($"seq.{n}.weight", 8, 8), Param($"seq.{n}.bias", 8) }).ToList(), Span)
            : new("seq", LayerKind.RNN, Args(("in", I(8)), ("hidden", I(16)), ("activation", N("tanh")), ("integrator", N(kind)), ("dt", D(0.5)), ("bias", B(true))),
                [Param("seq.input.weight", 16, 8), Param("seq.hidden.weight", 16, 16), Param("seq.bias", 16)], Span);
        var width = kind == "attention" ? 8 : 16;
        if (kind == "attention") { g.Nodes[1] = g.Nodes[1] with { Shape = [8, 8] }; g.Nodes[2] = g.Nodes[2] with { Shape = [8] }; }
        var model = new ModelIR("Seq", Args(), [new InputIR("x", [8, 8], ElementType.Float32, Span)], [seq, Linear("readout", width, 10)],
            g.Nodes, [new OutputIR("logits", y)], [], Span);
        var train = MlpTrain(steps: 120, syre: false, optimizer: "adam", lr: 0.01) with { Model = "Seq" };
        var r = Trainer.Run(Program(model, train), train, new TrainOptions(TempDir("seq-" + kind)));
        Assert.True(r.TestAccuracy > 0.35, $"{kind}: accuracy {r.TestAccuracy} (chance 0.1)");
    }

    [Fact]
    public void Label_outside_the_class_count_is_an_error()
    {
        var g = new Graph();
        var x = g.Input("x", [64]);
        var y = g.Layer("fc", x, [5]);
        var model = new ModelIR("Five", Args(), [new InputIR("x", [64], ElementType.Float32, Span)], [Linear("fc", 64, 5)], g.Nodes, [new OutputIR("logits", y)], [], Span);
        var train = MlpTrain(steps: 1, syre: false) with { Model = "Five" };
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(model, train), train, new TrainOptions(TempDir("label"))));
        Assert.Contains("outside the 5 classes", e.Message);
    }

    /// <summary>A linear regression on lowrank_regression(d = 8): y = fc(x), mse(y, target).</summary>
    internal static (ModelIR, TrainIR) LinearRegression(double lr, int steps, int? checkpointEvery = null)
    {
        var g = new Graph();
        var x = g.Input("x", [8]);
        var y = g.Layer("fc", x, [8], "y");
        var model = new ModelIR("Lin", Args(), [new InputIR("x", [8], ElementType.Float32, Span)], [Linear("fc", 8, 8)], g.Nodes, [new OutputIR("y", y)], [], Span);
        var train = new TrainIR("Lin", new DataIR("lowrank_regression", Args(("d", I(8)), ("rank", I(3)), ("samples", I(256))), Span),
            new LossIR("mse", "y", "target", Span), new OptimizerIR("sgd", Args(("lr", D(lr))), Span), null, 32, null, steps, 1, 1, checkpointEvery, [], [], [], Span) { InputBindings = XReadsX };
        return (model, train);
    }

    [Fact]
    public void Diverging_loss_stops_with_the_step_and_keeps_the_last_checkpoint()
    {
        var (model, train) = LinearRegression(lr: 200.0, steps: 500, checkpointEvery: 2);
        var dir = TempDir("nan");
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(model, train), train, new TrainOptions(dir)));
        Assert.Matches(@"at step \d+", e.Message);
        Assert.Contains("checkpoint", e.Message);
        Assert.True(File.Exists(Path.Combine(dir, Checkpoint.FileName)));
        using var m = new SymModel(model);
        var meta = Checkpoint.Load(Path.Combine(dir, Checkpoint.FileName), m, null);
        foreach (var (_, t) in m.state_dict()) Assert.True(t.isfinite().all().item<bool>());
        Assert.True(meta.Step >= 2);
    }

    [Fact]
    public void Perturb_with_an_induced_parameter_trains_on_teacher_data()
    {
        var (model, train) = TanhNet(steps: 150);
        var dir = TempDir("tanh");
        var r = Trainer.Run(Program(model, train), train, new TrainOptions(dir));
        var first = System.Text.Json.JsonDocument.Parse(File.ReadLines(Path.Combine(dir, "metrics.jsonl")).First()).RootElement.GetProperty("loss").GetDouble();
        Assert.True(r.TrainLoss < first / 2, $"{r.TrainLoss} vs first logged {first}");
        Assert.Null(r.TestAccuracy);
    }

    [Fact]
    public void Syre_diag_deep_linear_learns_the_low_rank_map()
    {
        var (model, train) = DeepLinear(steps: 300);
        var r = Trainer.Run(Program(model, train), train, new TrainOptions(TempDir("deeplinear")));
        // Total target variance is Σ s_i² / d = (4 + 1 + 0.25 + 0.0625) / 16 ≈ 0.33.
        Assert.True(r.TestLoss < 0.05, $"test loss {r.TestLoss}");
    }

    [Fact]
    public void A_non_finite_update_is_caught_before_it_reaches_a_checkpoint()
    {
        // The loss of step 3 is finite, but after its update a parameter is infinite (forced by an observer).
        var (model, train) = LinearRegression(lr: 0.01, steps: 10, checkpointEvery: 1);
        var dir = TempDir("inf");
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(model, train), train, new TrainOptions(dir), observers: [new Poison(3)]));
        Assert.StartsWith("the parameter fc.weight became infinite at step 3; training stopped, the last good checkpoint (step 2) is kept in", e.Message);
        using var m = new SymModel(model);
        Assert.Equal(2, Checkpoint.Load(Path.Combine(dir, Checkpoint.FileName), m, null).Step);
    }

    sealed class Poison(long atStep) : ITrainingObserver
    {
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            if (step != atStep) return;
            using var _ = no_grad();
            context.Model.parameters().First().fill_(double.PositiveInfinity);
        }
    }

    [Fact]
    public void Torch_failures_during_a_step_are_reported_as_one_line_errors()
    {
        var (model, train) = LinearRegression(lr: 1e39, steps: 5);
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(model, train), train, new TrainOptions(TempDir("torch-fail"))));
        Assert.Contains("step 1", e.Message);
    }

    [Fact]
    public void Regression_on_lowrank_data_learns()
    {
        var (model, train) = LinearRegression(lr: 0.05, steps: 200);
        var r = Trainer.Run(Program(model, train), train, new TrainOptions(TempDir("reg")));
        Assert.Null(r.TestAccuracy);
        Assert.True(r.TestLoss < 0.01, $"test loss {r.TestLoss}");
    }

    [Fact]
    public void Unwritable_output_directory_is_an_error()
    {
        var file = Path.Combine(TempDir("unwritable"), "a-file");
        File.WriteAllText(file, "x");
        var train = MlpTrain(steps: 1);
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(Path.Combine(file, "out"))));
        Assert.Contains("output directory", e.Message);
    }

    [Fact]
    public void Cuda_without_a_gpu_is_an_error()
    {
        if (torch.cuda.is_available()) return;
        var train = MlpTrain(steps: 1);
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(TempDir("cuda"), Device: "cuda")));
        Assert.Equal("CUDA requested but not available", e.Message);
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_an_error()
    {
        var train = MlpTrain(steps: 1);
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(TempDir("noresume"), Resume: true)));
        Assert.Contains("nothing to resume", e.Message);
    }

    [Fact]
    public void Schedules_follow_their_definitions()
    {
        var step = new Schedule(new ScheduleIR("step", Args(("every", I(10)), ("gamma", D(0.5))), Span), 1.0, 100);
        Assert.Equal(1.0, step.At(9));
        Assert.Equal(0.5, step.At(10));
        Assert.Equal(0.25, step.At(25));
        var cos = new Schedule(new ScheduleIR("cosine", Args(("min_lr", D(0.1))), Span), 1.0, 100);
        Assert.Equal(1.0, cos.At(0), 12);
        Assert.Equal(0.55, cos.At(50), 12);
        var warm = new Schedule(new ScheduleIR("warmup", Args(("steps", I(4))), Span), 1.0, 100);
        Assert.Equal(0.25, warm.At(0));
        Assert.Equal(1.0, warm.At(3));
        Assert.Equal(1.0, warm.At(50));
        Assert.Equal(1.0, new Schedule(null, 1.0, 10).At(7));
    }

    const string Reachable = """
        model Lin() {
            input x: [4]
            layer fc = Linear(4, 3)
            output y = fc(x)
        }
        train Lin {
            data teacher(d_in = 4, d_out = 3)
            loss mse(y, target)
            OPTIMIZER
            schedule cosine(min_lr = 0.1, warmup = 4)
            induce lowrank(rank = 2) on fc.weight
            steps 20
        }
        """;

    static (ModelIR Model, TrainIR Train) CompileReachable(string optimizer)
    {
        var c = SymDsl.Compiler.CompileText("reach.sym", Reachable.Replace("OPTIMIZER", optimizer));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return (c.Program!.Models[0], c.Program.Trains[0]);
    }

    /// <summary>
    /// One optimizer step from the same model and batch: each parameter's change and its gradient before the step.
    /// </summary>
    static List<(float[] Delta, float[] Grad)> OneStep(ModelIR model, OptimizerIR optimizer)
    {
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, seed: 5);
        using var opt = Trainer.BuildOptimizer(m, optimizer);
        using var g = new Generator(11);
        var batch = new Dictionary<string, Tensor> { ["x"] = randn([16, 4], generator: g) };
        var before = m.parameters().Select(p => p.detach().clone()).ToList();
        opt.zero_grad();
        m.Forward(batch)["y"].square().mean().backward();
        var grads = m.parameters().Select(p => p.grad!.clone()).ToList();
        opt.step();
        return m.parameters().Select((p, i) => ((p.detach() - before[i]).data<float>().ToArray(), grads[i].data<float>().ToArray())).ToList();
    }

    [Fact]
    public void Nesterov_and_eps_from_a_sym_file_reach_the_optimizer()
    {
        // SGD, first step (velocity = g): plain moves −lr·g, Nesterov −lr·(g + μ·g).
        var (model, plain) = CompileReachable("optimizer sgd(lr = 0.1, momentum = 0.5)");
        var nesterov = CompileReachable("optimizer sgd(lr = 0.1, momentum = 0.5, nesterov = true)").Train;
        Assert.True(nesterov.Optimizer.Args["nesterov"].AsBool());
        foreach (var ((dp, gp), (dn, gn)) in OneStep(model, plain.Optimizer).Zip(OneStep(model, nesterov.Optimizer)))
            for (var i = 0; i < dp.Length; i++)
            {
                Assert.Equal(-0.1 * gp[i], dp[i], 1e-6);
                Assert.Equal(-0.1 * 1.5 * gn[i], dn[i], 1e-6);
            }
        // Adam, first step (bias-corrected m̂ = g, v̂ = g²): −lr·g / (|g| + eps); eps = 0.5 shrinks it visibly.
        foreach (var eps in new[] { 1e-8, 0.5 })
        {
            var adam = CompileReachable($"optimizer adam(lr = 0.01, eps = {eps.ToString(System.Globalization.CultureInfo.InvariantCulture)})").Train;
            Assert.Equal(eps, adam.Optimizer.Args["eps"].AsDouble());
            foreach (var (d, gr) in OneStep(model, adam.Optimizer))
                for (var i = 0; i < d.Length; i++)
                    Assert.Equal(-0.01 * gr[i] / (Math.Abs(gr[i]) + eps), d[i], 1e-6);
        }
    }

    [Fact]
    public void Warmup_on_a_cosine_schedule_and_induce_rank_from_a_sym_file_take_effect()
    {
        var (model, train) = CompileReachable("optimizer sgd(lr = 1.0)");
        // 20 steps: warm-up over 4 (lr·(s+1)/4), then a cosine over the remaining 16 from 1.0 down to 0.1.
        var schedule = new Schedule(train.Schedule, 1.0, 20);
        Assert.Equal(0.25, schedule.At(0), 12);
        Assert.Equal(0.75, schedule.At(2), 12);
        Assert.Equal(1.0, schedule.At(4), 12);
        Assert.Equal(0.55, schedule.At(12), 12); // halfway through the cosine
        Assert.Equal(0.1, schedule.At(20), 12);
        // induce lowrank(rank = 2) on fc.weight [3, 4]: P = U Vᵀ with U [3, 2], V [4, 2], so P has rank 2.
        var reparams = Trainer.Reparametrisations(train, model);
        Assert.Equal(2, Assert.Single(reparams).Rank);
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, reparams, seed: 1);
        var shapes = m.named_parameters().Where(np => np.name.StartsWith("fc")).Select(np => np.parameter.shape).ToList();
        Assert.Contains(shapes, s => s.SequenceEqual(new long[] { 3, 2 }));
        Assert.Contains(shapes, s => s.SequenceEqual(new long[] { 4, 2 }));
        var weight = m.EffectiveParameters()["fc.weight"];
        var sv = linalg.svdvals(weight).data<float>().ToArray(); // descending
        Assert.True(sv[1] > 1e-3 && sv[2] < 1e-5 * sv[0], string.Join(", ", sv));
    }
}
