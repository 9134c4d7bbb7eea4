using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Diagnostics;

/// <summary>
/// collapse and duplicates on conv sites count channels (the unit axis, docs/language.md "The unit axis"), with the positions
/// as extra samples: a zeroed channel is collapsed and dead, two equal channels are duplicates, and a grid whose last axis
/// happens to have as many entries as there are channels (h: [8, 8, 8]) does not fool it. syre reparametrises conv weights
/// (P = θ + θ₀ with θ₀ of the kernel's shape) like any other.
/// </summary>
[Collection("torch")]
public class ConvUnitDiagnosticsTests
{
    const string Source = """
        model Conv(c: int = 8) {
            input x: [1, 8, 8]
            layer c1 = Conv2d(1, c, 3, padding = 1)
            layer c2 = Conv2d(c, 4, 3, padding = 1)
            layer head = Linear(4, 10)
            h = relu(c1(x))                    // [8, 8, 8]: channels, rows, columns
            g = relu(c2(h))
            pooled = global_avg_pool(g)
            output logits = head(pooled)
            symmetry perm : permutation(h)
            symmetry scale : rescale(h)
        }
        train Conv {
            data digits(test_fraction = 0.2)
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9, weight_decay = 0.01)
            batch 32
            steps 20
            seed 3
            break syre(sigma = 0.1, decay = 0.01) on scale
            diagnose collapse(scale), duplicates(perm), rank(pooled), rank(h) every 10 steps
        }
        """;

    sealed class Harness : IDisposable
    {
        public readonly SymModel Model;
        public readonly DataSet Data;
        public readonly TrainingContext Context;
        public readonly ModelIR IR;
        public readonly TrainIR Train;

        public Harness(int channels = 8, long seed = 3)
        {
            var c = Compiler.CompileText("conv.sym", Source.Replace("c: int = 8", $"c: int = {channels}"));
            Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
            Train = c.Program!.Trains[0];
            IR = c.Program.ModelFor(Train);
            Model = new SymModel(IR, Trainer.Reparametrisations(Train, IR), seed);
            Data = DataSources.Digits(0.2, 1);
            var probe = Data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, 64));
            probe["x"] = probe["x"].reshape(64, 1, 8, 8); // as the trainer reads digits' x: [64] into x: [1, 8, 8]
            Tensor Loss(IReadOnlyDictionary<string, Tensor> b) => Trainer.LossOf("cross_entropy", Model.Forward(b)["logits"], b["label"]);
            Context = new TrainingContext
            {
                Model = Model, ModelIR = IR, Train = Train, Device = CPU, OutDir = Path.GetTempPath(), Seed = seed, Data = Data,
                ProbeBatch = probe, Loss = Loss, TotalSteps = 20, StepsPerEpoch = 45, StartStep = 0,
            };
        }

        public Dictionary<string, object?> Step(SymmetryDiagnostics d, long step)
        {
            var m = new Dictionary<string, object?>();
            using (var scope = NewDisposeScope()) d.OnStep(Context, step, m);
            return m;
        }

        public void Edit(Action<Tensor, Tensor, Tensor> edit)
        {
            using var scope = NewDisposeScope();
            using (no_grad())
            {
                var w1 = Model.EffectiveParameter("c1.weight").clone();
                var b1 = Model.EffectiveParameter("c1.bias").clone();
                var w2 = Model.EffectiveParameter("c2.weight").clone();
                edit(w1, b1, w2);
                Model.SetEffectiveParameters(new Dictionary<string, Tensor> { ["c1.weight"] = w1, ["c1.bias"] = b1, ["c2.weight"] = w2 });
            }
        }

        public void Dispose() { Model.Dispose(); Data.Dispose(); }
    }

    [Fact]
    public void A_zeroed_channel_is_collapsed_and_dead_and_two_equal_channels_are_duplicates()
    {
        using var h = new Harness();
        using var diag = SymmetryDiagnostics.Create(h.IR, h.Train)!;
        diag.OnStart(h.Context);

        // Every channel but 3 is always active (bias 5 > the largest negative response, 9 taps × 1/3 × pixels ≤ 1); channel 3
        // is removed (in-kernel, bias and its out-kernels zero); channel 6 becomes a copy of channel 1.
        h.Edit((w1, b1, w2) =>
        {
            b1.fill_(5.0);
            w1[3] = 0.0; b1[3] = 0.0; w2[.., 3] = 0.0;
            w1[6] = w1[1].clone(); w2[.., 6] = w2[.., 1].clone();
        });
        var m = h.Step(diag, 10);
        Assert.Equal(1.0, (double)m["collapse(scale)"]!);
        Assert.Equal(1.0 / 8, (double)m["collapse(scale).fraction"]!);
        // Dead along the channels: exactly channel 3. Read along the last axis (8 columns, as many as the channels) no
        // column is ever silent, so a measure that read it would say 0.
        Assert.Equal(1.0, (double)m["collapse(scale).dead"]!);
        Assert.Equal(1.0, (double)m["duplicates(perm)"]!);
        Assert.Equal(1.0, (double)m["duplicates(perm).clusters"]!);
        // rank(pooled): the pooled channel features over the probe batch, at most 4 (c2's channels).
        Assert.InRange((double)m["rank(pooled)"]!, 1.0, 4.0);
    }

    [Fact]
    public void The_spatial_size_does_not_change_the_counts()
    {
        // A 16-channel net: the 8 × 8 grid no longer has as many columns as there are channels; the counts follow the channels.
        using var h = new Harness(channels: 16);
        using var diag = SymmetryDiagnostics.Create(h.IR, h.Train)!;
        diag.OnStart(h.Context);
        h.Edit((w1, b1, w2) =>
        {
            b1.fill_(5.0);
            foreach (var i in new[] { 0, 5, 7 }) { w1[i] = 0.0; b1[i] = 0.0; w2[.., i] = 0.0; }
        });
        var m = h.Step(diag, 10);
        Assert.Equal(3.0, (double)m["collapse(scale)"]!);
        Assert.Equal(3.0, (double)m["collapse(scale).dead"]!);
        Assert.Equal(0.0, (double)m["duplicates(perm)"]!);
    }

    [Fact]
    public void Rank_over_the_channels_counts_distinct_channels_with_positions_as_samples()
    {
        using var h = new Harness();
        using var diag = SymmetryDiagnostics.Create(h.IR, h.Train)!;
        diag.OnStart(h.Context);
        // Only channels 1 and 6 left, 6 a copy of 1: one direction over the channels, whatever the positions do.
        h.Edit((w1, b1, w2) =>
        {
            foreach (var i in new[] { 0, 2, 3, 4, 5, 7 }) { w1[i] = 0.0; b1[i] = 0.0; w2[.., i] = 0.0; }
            w1[6] = w1[1].clone(); b1[6] = b1[1].clone(); w2[.., 6] = w2[.., 1].clone();
        });
        var m = h.Step(diag, 10);
        Assert.Equal(1.0, (double)m["rank(h).units"]!, 6);
        Assert.True((double)m["rank(h)"]! > 1.5, $"rank(h) = {m["rank(h)"]}: each example's whole map, positions included");
        Assert.Equal(6.0, (double)m["collapse(scale)"]!);
        Assert.Equal(1.0, (double)m["duplicates(perm)"]!);
        Assert.False(m.ContainsKey("rank(pooled).units")); // a vector site has no positions
    }

    [Fact]
    public void Syre_reparametrises_conv_kernels_as_theta_plus_a_fixed_offset_and_decays_theta()
    {
        using var h = new Harness();
        string[] names = ["c1.weight", "c1.bias", "c2.weight"];
        using var scope = NewDisposeScope();
        var before = new Dictionary<string, (Tensor Theta, Tensor Theta0)>();
        foreach (var name in names)
        {
            var offset = Assert.IsType<OffsetParameterization>(h.Model.ParameterizationOf(name));
            Assert.Equal("syre", offset.Method);
            Assert.Equal(h.Model.EffectiveParameter(name).shape, offset.Theta0.shape);
            // θ₀ ~ N(0, 0.1²) per entry of the kernel, and the effective kernel is θ + θ₀.
            Assert.InRange(offset.Theta0.std().item<float>(), 0.05f, 0.15f);
            Assert.True(allclose(offset.Effective(), offset.Theta() + offset.Theta0, rtol: 0, atol: 1e-7));
            before[name] = (offset.Theta().detach().clone(), offset.Theta0.clone());
        }
        Assert.IsNotType<OffsetParameterization>(h.Model.ParameterizationOf("head.weight"));
        Assert.IsNotType<OffsetParameterization>(h.Model.ParameterizationOf("c2.bias")); // c2's channels are not in scale

        // One SGD step on a zero loss gradient: only the weight decay acts, on θ (θ ← (1 − lr·wd)·θ, lr 0.05, wd 0.01),
        // and θ₀ stays put, so the kernels decay towards θ₀, not towards 0.
        using var optimizer = Trainer.BuildOptimizer(h.Model, h.Train.Optimizer);
        optimizer.zero_grad();
        var zero = h.Model.EffectiveParameters().Values.Select(t => t.sum() * 0.0).Aggregate((a, b) => a + b);
        zero.backward();
        h.Model.OptimizerStep(optimizer);
        foreach (var name in names)
        {
            var offset = (OffsetParameterization)h.Model.ParameterizationOf(name);
            Assert.True(allclose(offset.Theta0, before[name].Theta0, rtol: 0, atol: 0));
            Assert.True(allclose(offset.Theta(), before[name].Theta * (1 - 0.05 * 0.01), rtol: 0, atol: 1e-6),
                $"{name}: θ after one decay step");
        }
    }
}
