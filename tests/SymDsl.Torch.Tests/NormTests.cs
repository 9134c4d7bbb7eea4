using SymDsl.IR;
using SymDsl.Tests;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Lowering.Layers;
using SymDsl.Torch.Symmetry;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// BatchNorm and dropout at run time (issue 11): training vs evaluation mode, running statistics as buffers that
/// checkpoints, resumes and weights.dat carry, dropout's masks from the run's own generator, the modes of verification,
/// and the group actions on buffers.
/// </summary>
[Collection("torch")]
public class NormTests
{
    const string Source = """
        model Net(width: int = 12) {
            input x: [64]
            layer fc1 = Linear(64, width)
            layer bn = BatchNorm(width, momentum = 0.2)
            layer fc2 = Linear(width, 10)
            z = fc1(x)
            n = bn(z)
            h = dropout(relu(n), 0.3)
            output logits = fc2(h)
        }
        train Net {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9)
            batch     64
            steps     40
            seed      3
            diagnose  rank(h) every 10 steps
        }
        """;

    static (ProgramIR Program, ModelIR Model, TrainIR Train) Compile(string source = Source)
    {
        var c = Compiler.CompileText("net.sym", source);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return (c.Program!, c.Program!.Models[0], c.Program.Trains[0]);
    }

    static Dictionary<string, Tensor> Batch(long seed, int n = 16, int d = 64)
    {
        using var g = new Generator((ulong)seed);
        return new Dictionary<string, Tensor> { ["x"] = randn([n, d], generator: g) };
    }

    [Fact]
    public void BatchNorm_normalises_with_the_batch_in_training_and_with_its_running_statistics_in_evaluation()
    {
        var (_, model, _) = Compile();
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, seed: 1);
        using var _ = no_grad();
        using (var g = new Generator(9))
            m.SetEffectiveParameters(new Dictionary<string, Tensor> { ["bn.weight"] = rand([12], generator: g) + 0.5, ["bn.bias"] = randn([12], generator: g) });
        var x = Batch(2);
        var (gamma, beta) = (m.EffectiveParameter("bn.weight"), m.EffectiveParameter("bn.bias"));

        // Verify: batch statistics (biased variance), buffers untouched.
        m.SetMode(ForwardMode.Verify);
        var z = F(m, x, "z");
        Tensor Bn(Tensor mean, Tensor var) => (z - mean) / (var + 1e-5).sqrt() * gamma + beta;
        var verify = F(m, x, "n");
        Assert.True(verify.allclose(Bn(z.mean([0]), z.var(0, unbiased: false)), 1e-4, 1e-5));
        Assert.True(m.Buffer("bn.running_mean").eq(0).all().item<bool>());
        Assert.Equal(0, m.Buffer("bn.num_batches_tracked").item<long>());

        // Train: the same output; running statistics move by momentum towards the batch's (unbiased variance), one batch counted.
        m.train();
        Assert.Equal(ForwardMode.Train, m.Mode);
        Assert.True(F(m, x, "n").allclose(verify, 1e-5, 1e-6));
        Assert.True(m.Buffer("bn.running_mean").allclose(z.mean([0]) * 0.2, 1e-4, 1e-6));
        Assert.True(m.Buffer("bn.running_var").allclose(z.var(0, unbiased: true) * 0.2 + 0.8, 1e-4, 1e-6));
        Assert.Equal(1, m.Buffer("bn.num_batches_tracked").item<long>());

        // Eval: the running statistics, not the batch's; buffers untouched.
        m.eval();
        Assert.Equal(ForwardMode.Eval, m.Mode);
        var (rm, rv) = (m.Buffer("bn.running_mean").clone(), m.Buffer("bn.running_var").clone());
        var eval = F(m, x, "n");
        Assert.True(eval.allclose(Bn(rm, rv), 1e-4, 1e-5));
        Assert.False(eval.allclose(verify, 1e-2, 1e-2));
        Assert.True(m.Buffer("bn.running_mean").eq(rm).all().item<bool>());
        Assert.Equal(1, m.Buffer("bn.num_batches_tracked").item<long>());

        // A batch of one example has no batch statistics: a one-line error naming the layer.
        m.train();
        var one = new Dictionary<string, Tensor> { ["x"] = x["x"].narrow(0, 0, 1) };
        var e = Assert.Throws<SymDsl.Diagnostics.SymDslException>(() => m.Forward(one));
        Assert.Contains("BatchNorm 'bn' needs more than one value per channel", e.Message);
    }

    [Theory]
    [InlineData(nameof(CalculusModels.ConvBatchNorm), "x")]
    [InlineData(nameof(CalculusModels.ConvBatchNorm1d), "s")]
    public void On_channels_first_values_BatchNorm_normalises_each_channel_over_the_batch_and_the_positions(string name, string input)
    {
        var model = Compiler.CompileText("t.sym", CalculusModels.All.Single(m => m.Name == name).Text).Program!.Models[0];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var m = new SymModel(model, seed: 3);
        long[] shape = [6, .. model.Inputs[0].Shape.Select(d => (long)d)];
        using var g = new Generator(4);
        var x = new Dictionary<string, Tensor> { [input] = randn(shape, generator: g) };
        m.SetMode(ForwardMode.Verify);
        var z = F(m, x, "z");
        long[] over = [0, .. Enumerable.Range(2, (int)z.dim() - 2).Select(i => (long)i)];
        var expected = (z - z.mean(over, keepdim: true)) / (z.var(over, unbiased: false, keepdim: true) + 1e-5).sqrt();
        Assert.True(F(m, x, "n").allclose(expected, 1e-4, 1e-5)); // γ = 1, β = 0 at initialisation
        m.train();
        F(m, x, "n");
        var momentum = model.Layer("bn").Args["momentum"].AsDouble();
        Assert.True(m.Buffer("bn.running_mean").allclose(z.mean(over) * momentum, 1e-4, 1e-6));
        m.eval();
        var rm = m.Buffer("bn.running_mean").reshape([-1, .. Enumerable.Repeat(1L, (int)z.dim() - 2)]);
        var rv = m.Buffer("bn.running_var").reshape([-1, .. Enumerable.Repeat(1L, (int)z.dim() - 2)]);
        Assert.True(F(m, x, "n").allclose((z - rm) / (rv + 1e-5).sqrt(), 1e-4, 1e-5));
    }

    static Tensor F(SymModel m, Dictionary<string, Tensor> x, string site)
    {
        var captured = new Dictionary<string, Tensor>();
        m.Forward(x, new HashSet<string> { site }, captured);
        return captured[site];
    }

    [Fact]
    public void Dropout_is_the_identity_in_evaluation_and_draws_its_mask_from_the_step_s_generator_alone()
    {
        var (_, model, _) = Compile();
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, seed: 4);
        using var _ = no_grad();
        var x = Batch(5);
        // Eval and Verify: dropout is the identity, h = relu(n).
        m.eval();
        Assert.True(F(m, x, "h").eq(F(m, x, "n").relu()).all().item<bool>());
        m.SetMode(ForwardMode.Verify);
        var verifyH = F(m, x, "h");
        Assert.True(verifyH.eq(F(m, x, "n").relu()).all().item<bool>());

        // Train: the mask of step s depends on (seed, s) alone, not on torch's global generator.
        m.SetMode(ForwardMode.Train);
        m.BeginStep(7);
        var a = F(m, x, "h");
        torch.manual_seed(123);
        using (var r = torch.rand(100)) { }
        m.BeginStep(7);
        var b = F(m, x, "h");
        m.BeginStep(8);
        var c = F(m, x, "h");
        Assert.True(a.eq(b).all().item<bool>(), "the same step draws the same mask");
        Assert.False(a.eq(c).all().item<bool>(), "another step draws another mask");
        using (var other = new SymModel(model, seed: 5))
        {
            other.SetEffectiveParameters(m.EffectiveParameters());
            other.BeginStep(7);
            Assert.False(F(other, x, "h").eq(a).all().item<bool>(), "another seed draws another mask");
        }
        // Kept entries are scaled by 1/(1 − p), dropped ones are 0; about p of them are dropped. (Batch statistics in
        // training equal Verify's, so relu(n) is verifyH.)
        var positive = verifyH.gt(0);
        var kept = a.ne(0).logical_and(positive);
        Assert.True(a.masked_select(kept).allclose(verifyH.masked_select(kept) / 0.7, 1e-5, 1e-6));
        var dropped = 1.0 - kept.sum().item<long>() / (double)positive.sum().item<long>();
        Assert.InRange(dropped, 0.15, 0.45);
    }

    [Fact]
    public void Running_statistics_are_saved_in_checkpoints_and_weights_and_a_resumed_run_matches_an_uninterrupted_one()
    {
        var (program, model, train) = Compile();
        var full = TempDir("bn-full");
        var fullResult = Trainer.Run(program, train, new TrainOptions(full, CheckpointEvery: 20));

        var part = TempDir("bn-part");
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            Trainer.Run(program, train, new TrainOptions(part, CheckpointEvery: 20), p => { if (p.Step == 25) cts.Cancel(); }, cts.Token));
        var meta = Checkpoint.Read(Path.Combine(part, Checkpoint.FileName));
        Assert.Equal(25, meta.Step);
        Assert.Contains(meta.Parameters, p => p.StartsWith("bn.running_mean ", StringComparison.Ordinal));
        Assert.Contains(meta.Parameters, p => p.StartsWith("bn.running_var ", StringComparison.Ordinal));
        Assert.Contains(meta.Parameters, p => p.StartsWith("bn.num_batches_tracked ", StringComparison.Ordinal));
        var resumed = Trainer.Run(program, train, new TrainOptions(part, Resume: true, CheckpointEvery: 20));

        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.jsonl")), File.ReadAllText(Path.Combine(part, "metrics.jsonl")));
        Assert.Equal(fullResult.TestLoss, resumed.TestLoss);
        Assert.Equal(fullResult.TestAccuracy, resumed.TestAccuracy);
        using var a = RunComparison.Load(model, full, train);
        using var b = RunComparison.Load(model, part, train);
        var sb = b.state_dict();
        foreach (var (key, t) in a.state_dict())
            Assert.True(t.eq(sb[key]).all().item<bool>(), $"{key} differs after the resume");
        Assert.Equal(40, a.Buffer("bn.num_batches_tracked").item<long>());
        Assert.False(a.Buffer("bn.running_var").allclose(ones(12, ScalarType.Float64)), "training moved the running variance");
        // A different seed is a different run (masks, initialisation): the comparison above can fail.
        var other = TempDir("bn-other");
        Trainer.Run(program, train, new TrainOptions(other, Seed: 4));
        Assert.NotEqual(File.ReadAllText(Path.Combine(full, "metrics.jsonl")), File.ReadAllText(Path.Combine(other, "metrics.jsonl")));
    }

    [Fact]
    public void A_batch_of_one_example_for_a_BatchNorm_on_channels_is_refused_before_training()
    {
        // digits with test_fraction 0.2: 1,438 training rows, so a batch of 1,437 leaves one example in each epoch's last batch.
        var (program, _, train) = Compile(Source.Replace("batch     64", "batch     1437"));
        var dir = TempDir("bn-one");
        var e = Assert.Throws<SymDsl.Diagnostics.SymDslException>(() => Trainer.Run(program, train, new TrainOptions(dir)));
        Assert.Contains("BatchNorm 'bn' takes its statistics over the batch, but the last batch of each epoch (1438 training rows, batch 1437) holds a single example", e.Message);
        Assert.False(File.Exists(Path.Combine(dir, "checkpoint.bin")));
    }

    [Fact]
    public void A_training_step_with_BatchNorm_and_dropout_releases_every_tensor_it_makes()
    {
        var (_, model, train) = Compile();
        using var data = DataSources.Load(train.Data, 1);
        using var m = new SymModel(model, seed: 1);
        using var opt = Trainer.BuildOptimizer(m, train.Optimizer);
        void Step(int i)
        {
            m.BeginStep(i);
            using var scope = NewDisposeScope();
            var idx = arange(i * 32, i * 32 + 32, dtype: ScalarType.Int64);
            var b = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
            opt.zero_grad();
            Trainer.LossOf("cross_entropy", m.Forward(b)["logits"], b["label"]).backward();
            opt.step();
        }
        Step(0); Step(1);
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 2; i < 7; i++) Step(i);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void The_symmetries_around_a_BatchNorm_verify_in_training_mode()
    {
        var c = Compiler.CompileText("t.sym", CalculusModels.BatchNormMlp);
        var model = c.Program!.Models[0];
        var exact = ModelVerification.Verify(model, model.Symmetries.Where(s => s.Exact), trials: 3);
        var approximate = ModelVerification.Verify(model, model.Symmetries.Where(s => !s.Exact), trials: 3, tolerance: 1e-3);
        Assert.Contains(exact, v => v.Symmetry.Name == "zs"); // sign of the input, through γ
        Assert.Contains(exact, v => v.Symmetry.Name == "zt"); // translation of the input
        Assert.Contains(approximate, v => v.Symmetry.Name == "zc"); // scale of the map before the BatchNorm
        Assert.All(exact.Concat(approximate), v => Assert.True(v.Holds, $"{v.Symmetry.Name}: relative error {v.Result.MaxRelativeError:E2}"));
        // The approximate ones are exact when eps = 0.
        var exactEps = Compiler.CompileText("t.sym", CalculusModels.BatchNormMlp.Replace("BatchNorm(h)", "BatchNorm(h, eps = 0.0)")).Program!.Models[0];
        Assert.All(exactEps.Symmetries, s => Assert.True(s.Exact, s.Name));
        Assert.All(ModelVerification.VerifyAll(exactEps, trials: 2), v => Assert.True(v.Holds, $"{v.Symmetry.Name} (eps = 0): {v.Result.MaxRelativeError:E2}"));
    }

    [Fact]
    public void Group_actions_move_the_running_statistics_so_that_a_trained_model_s_evaluation_function_is_kept()
    {
        var c = Compiler.CompileText("t.sym", CalculusModels.BatchNormMlp);
        var model = c.Program!.Models[0];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var m = new SymModel(model, seed: 2);
        m.to(ScalarType.Float64);
        using var g = new Generator(3);
        // "Trained" state: random parameters and running statistics far from their initial 0 and 1.
        m.SetEffectiveParameters(m.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value + randn(kv.Value.shape, ScalarType.Float64, generator: g) * 0.3));
        m.SetBuffers(new Dictionary<string, Tensor> { ["bn.running_mean"] = randn([8], ScalarType.Float64, generator: g), ["bn.running_var"] = rand([8], ScalarType.Float64, generator: g) + 0.5 });
        m.eval();
        var x = new Dictionary<string, Tensor> { ["x"] = randn([16, 5], ScalarType.Float64, generator: g) };
        var before = m.Forward(x)["logits"].clone();
        var parameters = m.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var buffers = m.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var rng = new Random(5);
        foreach (var sym in model.Symmetries)
        {
            var element = GroupActions.Sample(sym, rng);
            m.SetEffectiveParameters(GroupActions.Apply(sym, element, parameters));
            var moved = GroupActions.ApplyToBuffers(sym, element, buffers);
            m.SetBuffers(moved);
            var after = m.Forward(x)["logits"];
            var error = (after - before).abs().max().item<double>() / before.abs().max().item<double>();
            Assert.True(error < (sym.Exact ? 1e-9 : 1e-3), $"{sym.Name}: relative error {error:E2} in evaluation mode");
            if (sym.BufferActions.Count > 0)
            {
                // Without moving the buffers the evaluation function changes: the buffer actions are needed.
                m.SetBuffers(buffers);
                var stale = (m.Forward(x)["logits"] - before).abs().max().item<double>() / before.abs().max().item<double>();
                Assert.True(stale > 1e-3, $"{sym.Name}: the running statistics did not matter ({stale:E2})");
            }
        }
    }

    [Fact]
    public void Runs_with_dropout_and_BatchNorm_trained_concurrently_match_the_same_runs_alone()
    {
        var (program, model, train) = Compile();
        long[] seeds = [1, 2];
        var alone = seeds.ToDictionary(s => s, s => TempDir($"nd-alone-{s}"));
        foreach (var (seed, dir) in alone) Trainer.Run(program, train, new TrainOptions(dir, Seed: seed, Steps: 20));
        var together = seeds.ToDictionary(s => s, s => TempDir($"nd-together-{s}"));
        using var stop = new CancellationTokenSource();
        var disturber = new Thread(() =>
        {
            long i = 0;
            while (!stop.IsCancellationRequested) { torch.manual_seed(i++); using var r = torch.rand(64); }
        });
        disturber.Start();
        var errors = new List<Exception>();
        var threads = together.Select(kv => new Thread(() =>
        {
            try { Trainer.Run(program, train, new TrainOptions(kv.Value, Seed: kv.Key, Steps: 20)); }
            catch (Exception e) { lock (errors) errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        stop.Cancel();
        disturber.Join();
        Assert.Empty(errors);
        foreach (var seed in seeds)
            Assert.Equal(File.ReadAllText(Path.Combine(alone[seed], "metrics.jsonl")), File.ReadAllText(Path.Combine(together[seed], "metrics.jsonl")));
    }
}
