using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp.Modules;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// Every kind of divergence ends the same way: one line naming the step and what went non-finite, the last good
/// checkpoint kept (never overwritten by a diverged state), no summary.json, no libtorch text in the message.
/// </summary>
[Collection("torch")]
public class DivergenceTests
{
    static readonly Regex OneLine = new(@"^(the loss|the gradient of \S+|the parameter \S+|the optimizer state \S+ of \S+) became (NaN|inf|-inf|infinite) at step (\d+); training stopped(, the last good checkpoint \(step (\d+)\) is kept in \S+checkpoint\.bin| \(no checkpoint was written\))$");

    /// <summary>Runs until the trainer stops it; checks the one-line form and returns the exception.</summary>
    static SymDslException Diverges(TrainIR train, string dir, params ITrainingObserver[] observers)
    {
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(dir), observers: observers));
        Assert.Matches(OneLine, e.Message);
        Assert.False(File.Exists(Path.Combine(dir, Trainer.SummaryFileName)), "a diverged run has no summary.json");
        return e;
    }

    /// <summary>The checkpoint on disk: its step, and that everything it holds (parameters, optimizer state) is finite.</summary>
    static long CheckpointStep(string dir, TrainIR train)
    {
        using var model = new SymModel(Mlp(16), Trainer.Reparametrisations(train));
        using var optimizer = Trainer.BuildOptimizer(model, train.Optimizer);
        var step = Checkpoint.Load(Path.Combine(dir, Checkpoint.FileName), model, optimizer).Step;
        Assert.Null(Divergence.DiagnoseState(model, optimizer));
        Assert.NotEmpty(Divergence.OptimizerState(model, optimizer));
        return step;
    }

    static int Step(SymDslException e) => int.Parse(OneLine.Match(e.Message).Groups[3].Value);

    [Fact]
    public void A_huge_learning_rate_stops_with_one_line_and_keeps_the_last_good_checkpoint()
    {
        var train = MlpTrain(steps: 40, lr: 1e30, syre: false, checkpointEvery: 1);
        var dir = TempDir("div-lr");
        var e = Diverges(train, dir);
        var step = Step(e);
        Assert.InRange(step, 2, 40);
        Assert.Equal(step - 1, CheckpointStep(dir, train));
        Assert.Contains($"(step {step - 1}) is kept in {Path.Combine(dir, Checkpoint.FileName)}", e.Message);
    }

    [Fact]
    public void An_infinity_in_the_data_stops_at_the_step_that_reads_it()
    {
        var train = MlpTrain(steps: 23, syre: false, checkpointEvery: 100); // one epoch: every row is read once
        var dir = TempDir("div-data");
        var e = Diverges(train, dir, new Hook(start: c => c.Data.Train["x"].narrow(0, 700, 1).fill_(float.PositiveInfinity)));
        Assert.Matches("^the loss became (NaN|inf) at step ", e.Message);
        Assert.EndsWith("(no checkpoint was written)", e.Message);
        Assert.False(File.Exists(Path.Combine(dir, Checkpoint.FileName)));
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void A_nan_gradient_is_caught_before_the_update(string optimizer)
    {
        var train = MlpTrain(steps: 20, syre: false, checkpointEvery: 2, optimizer: optimizer, lr: 0.01);
        var dir = TempDir("div-grad");
        var e = Diverges(train, dir, new Hook(gradients: (c, step) =>
        {
            if (step != 5) return;
            using var _ = no_grad();
            var w = c.Model.named_parameters().Single(p => p.name == "fc1.weight").parameter;
            w.grad![3, 7] = float.NaN;
        }));
        Assert.Equal("the gradient of fc1.weight became NaN at step 5; training stopped, the last good checkpoint (step 4) is kept in "
            + Path.Combine(dir, Checkpoint.FileName), e.Message);
        Assert.Equal(4, CheckpointStep(dir, train));
    }

    [Fact]
    public void A_nan_in_the_optimizer_state_is_caught_before_the_checkpoint()
    {
        var train = MlpTrain(steps: 20, syre: false, checkpointEvery: 3, optimizer: "adam", lr: 0.01);
        var dir = TempDir("div-state");
        var e = Diverges(train, dir, new Hook(step: (c, step) =>
        {
            if (step != 6) return; // runs before the checkpoint of step 6
            var bias = c.Model.named_parameters().Single(p => p.name == "fc2.bias").parameter;
            var index = c.Optimizer!.parameters().ToList().FindIndex(p => p.Handle == bias.Handle);
            var state = (Adam.State)c.Optimizer.state_dict().State[index];
            using var _ = no_grad();
            state.exp_avg_sq[2] = float.NaN;
        }));
        Assert.Equal("the optimizer state exp_avg_sq of fc2.bias became NaN at step 6; training stopped, the last good checkpoint (step 3) is kept in "
            + Path.Combine(dir, Checkpoint.FileName), e.Message);
        Assert.Equal(3, CheckpointStep(dir, train));
    }

    [Fact]
    public void A_nan_parameter_is_caught_before_the_checkpoint()
    {
        var train = MlpTrain(steps: 20, syre: false, checkpointEvery: 4);
        var dir = TempDir("div-param");
        var e = Diverges(train, dir, new Hook(step: (c, step) =>
        {
            if (step != 8) return;
            using var _ = no_grad();
            c.Model.named_parameters().Single(p => p.name == "fc2.weight").parameter[0, 0] = float.NegativeInfinity;
        }));
        Assert.StartsWith("the parameter fc2.weight became infinite at step 8; training stopped, the last good checkpoint (step 4)", e.Message);
        Assert.Equal(4, CheckpointStep(dir, train));
    }

    [Fact]
    public void A_libtorch_error_caused_by_a_nan_is_reported_as_the_divergence()
    {
        var train = MlpTrain(steps: 20, syre: false, checkpointEvery: 2);
        var dir = TempDir("div-torch");
        var e = Diverges(train, dir, new Hook(gradients: (c, step) =>
        {
            if (step != 3) return;
            using var _ = no_grad();
            var g = c.Model.named_parameters().Single(p => p.name == "fc2.weight").parameter.grad!;
            g[1, 1] = float.NaN;
            multinomial(g.abs().flatten(), 1); // libtorch refuses NaN probabilities
        }));
        Assert.Equal("the gradient of fc2.weight became NaN at step 3; training stopped, the last good checkpoint (step 2) is kept in "
            + Path.Combine(dir, Checkpoint.FileName), e.Message);
        Assert.IsAssignableFrom<ExternalException>(e.InnerException); // libtorch's text is kept for SYMC_DEBUG=1, not in the message
    }

    [Fact]
    public void A_libtorch_error_without_a_divergence_is_one_line_without_libtorch_text()
    {
        var train = MlpTrain(steps: 20, syre: false, checkpointEvery: 2);
        var dir = TempDir("div-other");
        var e = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(16), train), train, new TrainOptions(dir), observers:
            [new Hook(gradients: (c, step) => { if (step == 5) zeros(2).view(3); })]));
        Assert.Equal("libtorch failed at step 5 although the loss, gradients, parameters and optimizer state are finite; training stopped, "
            + $"the last good checkpoint (step 4) is kept in {Path.Combine(dir, Checkpoint.FileName)} (set SYMC_DEBUG=1 for libtorch's message)", e.Message);
        Assert.IsAssignableFrom<ExternalException>(e.InnerException);
        Assert.False(File.Exists(Path.Combine(dir, Trainer.SummaryFileName)));
    }

    [Fact]
    public void The_fused_check_names_the_first_non_finite_tensor_and_ignores_finite_overflow()
    {
        using var a = ones(3);
        using var big = full(new long[] { 4 }, 3e38f); // finite, but its sum overflows float32
        using var nan = tensor(new[] { 1f, float.NaN });
        using var inf = tensor(new[] { float.NegativeInfinity, 1f });
        Assert.Null(Divergence.FirstNonFinite([("a", a), ("big", big)]));
        Assert.Equal(("nan", "NaN"), Divergence.FirstNonFinite([("a", a), ("nan", nan), ("inf", inf)]));
        Assert.Equal(("inf", "infinite"), Divergence.FirstNonFinite([("big", big), ("inf", inf)]));
    }

    [Fact]
    public void A_run_directory_from_an_earlier_run_loses_its_summary_when_a_new_run_diverges()
    {
        var dir = TempDir("div-stale");
        var good = MlpTrain(steps: 3, syre: false);
        Trainer.Run(Program(Mlp(16), good), good, new TrainOptions(dir));
        Assert.True(File.Exists(Path.Combine(dir, Trainer.SummaryFileName)));
        Diverges(MlpTrain(steps: 40, lr: 1e30, syre: false, checkpointEvery: 100), dir); // asserts that summary.json is gone
    }

    sealed class Hook(Action<TrainingContext>? start = null, Action<TrainingContext, long>? gradients = null, Action<TrainingContext, long>? step = null) : ITrainingObserver
    {
        public void OnStart(TrainingContext context) => start?.Invoke(context);
        public void OnGradients(TrainingContext context, long s) => gradients?.Invoke(context, s);
        public void OnStep(TrainingContext context, long s, IDictionary<string, object?> metrics) => step?.Invoke(context, s);
    }
}
