using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Diagnostics;

/// <summary>
/// DiagnosticsMode.Background: the metrics computed from a snapshot on a worker thread while training goes on are the
/// inline ones bit for bit, in step order; the observer is driven directly (OnStep, awaiting its DeferredMetrics).
/// </summary>
[Collection("torch")]
public class BackgroundDiagnosticsTests
{
    // Every metric kind: collapse, balance (rescale and rotation), duplicates, rank of a parameter and of a site, alignment,
    // cka, drift, norm; syre on the unit symmetries (offset parameters) and a BatchNorm (buffers that move with training).
    const string AllKinds = """
        model All {
            input x: [64]
            layer l1 = Linear(64, 16)
            layer l2 = Linear(16, 12, bias = false)
            layer l3 = Linear(12, 16)
            layer bn = BatchNorm(16)
            layer norm = LayerNorm(16)
            layer head = Linear(16, 10)
            h = relu(l1(x))
            r = l2(h)
            z = l3(r)
            output logits = head(relu(norm(bn(z))))
            symmetry perm : permutation(h)
            symmetry sc : rescale(h)
            symmetry rot : rotation(r)
            symmetry size : scale(z)
            symmetry shift : translation(logits)
        }
        train All {
            data digits(test_fraction = 0.2)
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.1, momentum = 0.9, weight_decay = 1e-3)
            batch 64
            steps 12
            seed 5
            break syre(sigma = 0.1) on perm, sc
            diagnose collapse(sc), balance(sc), balance(rot), duplicates(perm), rank(l1.weight), rank(h), alignment(h), cka(h) every 2 steps
            diagnose drift(shift), norm(size), rank(r) every 3 steps
        }
        """;

    [Fact]
    public void Background_results_equal_inline_bit_for_bit_in_step_order()
    {
        var c = SymDsl.Compiler.CompileText("all.sym", AllKinds);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var (ir, train) = (c.Program!.Models[0], c.Program.Trains[0]);
        Assert.Equal(Vocabulary.Metrics.Names.Order(), train.Diagnostics.Select(d => d.Metric).Distinct().Order());

        using var model = new SymModel(ir, Trainer.Reparametrisations(train), train.Seed);
        using var data = DataSources.Digits(0.2, 1);
        using var opt = Trainer.BuildOptimizer(model, train.Optimizer);
        var probe = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, 64));
        Tensor Loss(IReadOnlyDictionary<string, Tensor> b) => Trainer.LossOf("cross_entropy", model.Forward(b)["logits"], b["label"]);
        var context = new TrainingContext
        {
            Model = model, ModelIR = ir, Train = train, Device = CPU, OutDir = Path.GetTempPath(), Seed = train.Seed, Data = data,
            ProbeBatch = probe, Loss = Loss, TotalSteps = 12, StepsPerEpoch = 23, StartStep = 0, LearningRate = 0.1,
        };
        using var inline = SymmetryDiagnostics.Create(ir, train)!;
        using var background = SymmetryDiagnostics.Create(ir, train, new DiagnosticsOptions(Mode: DiagnosticsMode.Background))!;
        inline.OnStart(context);
        background.OnStart(context);

        var expected = new List<(long step, List<KeyValuePair<string, object?>> values)>();
        var deferred = new List<(long step, DeferredMetrics values)>();
        model.train();
        for (long step = 1; step <= 12; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var batch = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 64 * step, 64));
                opt.zero_grad();
                Loss(batch).backward();
                model.OptimizerStep(opt);
            }
            var mi = new Dictionary<string, object?>();
            var mb = new Dictionary<string, object?>();
            using (var scope = NewDisposeScope())
            {
                inline.OnStep(context, step, mi);
                background.OnStep(context, step, mb);
            }
            Assert.Equal(mi.Count == 0, mb.Count == 0);
            if (mi.Count == 0) continue;
            expected.Add((step, mi.ToList()));
            // the step's metrics hold one entry, the deferred values; the worker computes them while the next steps train
            var d = Assert.IsType<DeferredMetrics>(Assert.Single(mb, kv => kv.Key == SymmetryDiagnostics.DeferredKey).Value);
            Assert.Single(mb);
            deferred.Add((step, d));
        }
        Assert.Equal(expected.Select(e => e.step), deferred.Select(d => d.step));
        Assert.Equal(new long[] { 1, 2, 3, 4, 6, 8, 9, 10, 12 }, expected.Select(e => e.step));
        for (int i = 0; i < expected.Count; i++)
        {
            var got = deferred[i].values.Values.GetAwaiter().GetResult();
            Assert.Equal(expected[i].values.Select(kv => kv.Key), got.Select(kv => kv.Key));
            foreach (var (e, g) in expected[i].values.Zip(got))
                Assert.True(BitConverter.DoubleToInt64Bits((double)e.Value!) == BitConverter.DoubleToInt64Bits((double)g.Value!),
                    $"step {expected[i].step} {e.Key}: inline {e.Value:R}, background {g.Value:R}");
        }
        Assert.Contains(expected[^1].values, kv => kv.Key == "alignment(h)");

        var si = new TrainSummary();
        var sb = new TrainSummary();
        inline.OnEnd(context, si);
        background.OnEnd(context, sb);
        Assert.Equal(inline.Series.Keys.Order(), background.Series.Keys.Order());
        foreach (var (key, series) in inline.Series) Assert.Equal(series, background.Series[key]);
        Assert.Equal(si.Events, sb.Events);
        Assert.Equal(inline.Evaluations, background.Evaluations);
        Assert.Equal(inline.Evaluations, background.EvaluationSeconds.Count);
        // Seconds counts computation (the snapshots and the worker's evaluations); ForegroundSeconds the training thread's
        // share (the snapshots and any wait for a worker that fell behind). Neither bounds the other: on a loaded machine a
        // wait can outlast the evaluation it waits for (the worker waits for a core too). Both include every snapshot.
        var snapshots = Assert.Contains("(snapshot)", background.SecondsByMetric);
        Assert.True(snapshots > 0 && background.Seconds >= snapshots && background.ForegroundSeconds >= snapshots,
            $"snapshots {snapshots} s, seconds {background.Seconds} s, foreground {background.ForegroundSeconds} s");
    }

    [Fact]
    public void A_failed_background_evaluation_faults_its_values_and_the_end_of_the_run()
    {
        var c = SymDsl.Compiler.CompileText("all.sym", AllKinds);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var (ir, train) = (c.Program!.Models[0], c.Program.Trains[0]);
        using var model = new SymModel(ir, Trainer.Reparametrisations(train), train.Seed);
        using var data = DataSources.Digits(0.2, 1);
        var probe = data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, 64));
        // A probe batch whose labels are out of range: the shadow pass (alignment's gradients) fails on the worker.
        var bad = new Dictionary<string, Tensor>(probe) { ["label"] = full(64, 99L, dtype: ScalarType.Int64) };
        var context = new TrainingContext
        {
            Model = model, ModelIR = ir, Train = train, Device = CPU, OutDir = Path.GetTempPath(), Seed = train.Seed, Data = data,
            ProbeBatch = bad, Loss = _ => throw new InvalidOperationException(), TotalSteps = 12, StepsPerEpoch = 23, StartStep = 0,
        };
        using var background = SymmetryDiagnostics.Create(ir, train, new DiagnosticsOptions(Mode: DiagnosticsMode.Background))!;
        background.OnStart(context);
        var m = new Dictionary<string, object?>();
        background.OnStep(context, 1, m);
        var d = (DeferredMetrics)m[SymmetryDiagnostics.DeferredKey]!;
        Assert.ThrowsAny<Exception>(() => d.Values.GetAwaiter().GetResult());
        Assert.ThrowsAny<Exception>(() => background.OnEnd(context, new TrainSummary()));
    }
}
