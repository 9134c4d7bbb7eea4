using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Diagnostics;

[Collection("torch")]
public class SymmetryDiagnosticsTests
{
    static readonly IReadOnlyDictionary<string, Value> NoArgs = new Dictionary<string, Value>();

    static DiagnoseIR D(string metric, string target, string kind, int every = 10) => new(metric, [target], [kind], NoArgs, every, Span);

    static TrainIR WithDiagnostics(TrainIR train, params DiagnoseIR[] ds) => train with { Diagnostics = ds };

    [Fact]
    public void The_gradients_are_read_only_at_steps_where_a_due_metric_takes_the_steps_gradient()
    {
        // The trainer zeroes .grad exactly at these steps (elsewhere syre may start it at −λθ₀: SymModel.ZeroGradients).
        var train = WithDiagnostics(MlpTrain(steps: 1), D("balance", "scale", "symmetry", every: 5), D("rank", "fc1.weight", "parameter", every: 2));
        using var diagnostics = SymmetryDiagnostics.Create(Mlp(16), train)!;
        Assert.Equal([1L, 5, 10, 15], Enumerable.Range(1, 16).Select(i => (long)i).Where(diagnostics.ReadsGradients));
        using var probe = SymmetryDiagnostics.Create(Mlp(16), train, DiagnosticsOptions.Default with { Gradients = GradientSource.Probe })!;
        Assert.DoesNotContain(Enumerable.Range(1, 16).Select(i => (long)i), probe.ReadsGradients); // a fresh gradient on the probe batch
        using var rankOnly = SymmetryDiagnostics.Create(Mlp(16), WithDiagnostics(train, D("rank", "fc1.weight", "parameter", every: 2)))!;
        Assert.False(rankOnly.ReadsGradients(1));
        Assert.False(rankOnly.ReadsGradients(2));
    }

    /// <summary>A context as the trainer builds it, on the digits set, with a probe batch of the first 64 training examples.</summary>
    sealed class Harness : IDisposable
    {
        public readonly SymModel Model;
        public readonly DataSet Data;
        public readonly TrainingContext Context;
        public readonly ModelIR IR;
        public readonly TrainIR Train;

        public Harness(ModelIR ir, TrainIR train, long seed = 3)
        {
            IR = ir; Train = train;
            Model = new SymModel(ir, Trainer.Reparametrisations(train), seed);
            Data = DataSources.Digits(0.2, 1);
            var probe = Data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 0, 64));
            Tensor Loss(IReadOnlyDictionary<string, Tensor> b) => Trainer.LossOf("cross_entropy", Model.Forward(b)["logits"], b["label"]);
            Context = new TrainingContext
            {
                Model = Model, ModelIR = ir, Train = train, Device = CPU, OutDir = Path.GetTempPath(), Seed = seed, Data = Data,
                ProbeBatch = probe, Loss = Loss, TotalSteps = 100, StepsPerEpoch = 23, StartStep = 0,
            };
        }

        public Dictionary<string, object?> Step(SymmetryDiagnostics d, long step)
        {
            var m = new Dictionary<string, object?>();
            using (var scope = NewDisposeScope()) d.OnStep(Context, step, m);
            return m;
        }

        public void Set(string name, Tensor value)
        {
            using var scope = NewDisposeScope();
            Model.SetEffectiveParameters(new Dictionary<string, Tensor> { [name] = value });
        }

        public void Dispose() { Model.Dispose(); Data.Dispose(); }
    }

    [Fact]
    public void Create_returns_null_without_diagnose_and_rejects_unmeasurable_targets()
    {
        Assert.Null(SymmetryDiagnostics.Create(Mlp(8), WithDiagnostics(MlpTrain())));
        Assert.NotNull(SymmetryDiagnostics.Create(Mlp(8), MlpTrain()));
        Assert.Throws<SymDslException>(() => SymmetryDiagnostics.Create(Mlp(8), WithDiagnostics(MlpTrain(), D("collapse", "perm", "symmetry"))));
        Assert.Throws<SymDslException>(() => SymmetryDiagnostics.Create(Mlp(8), WithDiagnostics(MlpTrain(), D("duplicates", "nope", "symmetry"))));
        Assert.Throws<SymDslException>(() => SymmetryDiagnostics.Create(Mlp(8), WithDiagnostics(MlpTrain(), D("rank", "nosuch", "site"))));
        Assert.Throws<SymDslException>(() => SymmetryDiagnostics.Create(Mlp(8), WithDiagnostics(MlpTrain(), D("entropy", "h", "site"))));
        // logits = fc2(h) is produced by a Linear layer: alignment there uses fc2 with h_a = h, h_b = logits
        Assert.NotNull(SymmetryDiagnostics.Create(Mlp(8), WithDiagnostics(MlpTrain(), D("alignment", "logits", "site"))));
    }

    [Fact]
    public void Observer_writes_every_key_at_step_one_and_every_N_steps()
    {
        var train = WithDiagnostics(MlpTrain(steps: 30, logEvery: 1, syre: true),
            D("collapse", "scale", "symmetry"), D("balance", "scale", "symmetry"), D("duplicates", "perm", "symmetry"),
            D("rank", "fc1.weight", "parameter"), D("rank", "h", "site", every: 15), D("alignment", "h", "site"),
            D("drift", "translation(logits)", "symmetry"), D("cka", "h", "site"));
        var model = Mlp(16);
        using var diag = SymmetryDiagnostics.Create(model, train)!;
        var dir = TempDir("diag-keys");
        Trainer.Run(Program(model, train), train, new TrainOptions(dir), observers: [diag]);

        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(30, lines.Count);
        string[] every10 =
        [
            "collapse(scale)", "collapse(scale).dead", "collapse(scale).fraction", "balance(scale)", "balance(scale).q_mean", "balance(scale).grad_ratio",
            "balance(scale).log_ratio", "duplicates(perm)", "duplicates(perm).clusters", "rank(fc1.weight)", "rank(fc1.weight).stable",
            "alignment(h)", "alignment(h).rga_a", "alignment(h).gwa_a", "alignment(h).rwa_a", "alignment(h).rga_b", "alignment(h).gwa_b",
            "alignment(h).rwa_b", "drift(translation(logits))", "cka(h)",
        ];
        foreach (var line in lines)
        {
            var step = line.GetProperty("step").GetInt64();
            var due10 = step == 1 || step % 10 == 0;
            foreach (var key in every10) Assert.True(line.TryGetProperty(key, out _) == due10, $"{key} at step {step}");
            var due15 = step == 1 || step % 15 == 0;
            Assert.True(line.TryGetProperty("rank(h)", out _) == due15, $"rank(h) at step {step}");
        }
        Assert.Equal(5, diag.Evaluations); // steps 1, 10, 15, 20, 30
        var at30 = lines[29];
        double V(string k) => at30.GetProperty(k).GetDouble();
        Assert.InRange(V("rank(fc1.weight)"), 1.0, 16.0);
        Assert.InRange(V("rank(h)"), 1.0, 16.0);
        Assert.True(V("balance(scale).grad_ratio") > 0);
        foreach (var k in new[] { "alignment(h).rga_a", "alignment(h).gwa_a", "alignment(h).rwa_a", "alignment(h).rga_b", "alignment(h).gwa_b", "alignment(h).rwa_b" })
            Assert.InRange(V(k), -1.0, 1.0);
        Assert.InRange(V("cka(h)"), 0.0, 1.0 + 1e-9);
        Assert.True(lines[0].GetProperty("cka(h)").GetDouble() > V("cka(h)") - 1e-9, "the representation moves away from its initial state");
        Assert.True(lines[0].GetProperty("cka(h)").GetDouble() > 0.95, "one step barely moves the representation");
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement;
        Assert.True(summary.GetProperty("diagnostics_seconds").GetDouble() > 0);
    }

    [Fact]
    public void A_resumed_run_has_the_same_series_and_events_as_an_uninterrupted_one()
    {
        var train = WithDiagnostics(MlpTrain(steps: 40, logEvery: 1, checkpointEvery: 20, syre: true),
            D("rank", "fc1.weight", "parameter", every: 5), D("collapse", "scale", "symmetry", every: 5), D("balance", "scale", "symmetry", every: 5));
        var model = Mlp(16);
        var program = Program(model, train);
        using var full = SymmetryDiagnostics.Create(model, train)!;
        var fullDir = TempDir("diag-full");
        Trainer.Run(program, train, new TrainOptions(fullDir), observers: [full]);

        var partDir = TempDir("diag-part");
        using var cts = new CancellationTokenSource();
        using (var first = SymmetryDiagnostics.Create(model, train)!)
            Assert.ThrowsAny<OperationCanceledException>(() =>
                Trainer.Run(program, train, new TrainOptions(partDir), p => { if (p.Step == 25) cts.Cancel(); }, cts.Token, observers: [first]));
        using var resumed = SymmetryDiagnostics.Create(model, train)!;
        Trainer.Run(program, train, new TrainOptions(partDir, Resume: true), observers: [resumed]);

        Assert.Equal(new long[] { 1, 5, 10, 15, 20, 25, 30, 35, 40 }, full.Series["rank(fc1.weight)"].Select(p => p.step));
        foreach (var key in new[] { "rank(fc1.weight)", "collapse(scale)" })
            Assert.Equal(full.Series[key], resumed.Series[key]);
        Assert.Equal(File.ReadAllText(Path.Combine(fullDir, "metrics.jsonl")), File.ReadAllText(Path.Combine(partDir, "metrics.jsonl")));
        var events = (string dir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement.GetProperty("events").GetRawText();
        Assert.Equal(events(fullDir), events(partDir));
    }

    [Fact]
    public void Measuring_leaves_no_live_tensors_and_does_not_touch_the_model()
    {
        var train = WithDiagnostics(MlpTrain(syre: true), D("collapse", "scale", "symmetry"), D("balance", "scale", "symmetry"),
            D("duplicates", "perm", "symmetry"), D("rank", "h", "site"), D("alignment", "h", "site"), D("cka", "h", "site"));
        using var h = new Harness(Mlp(16), train);
        using var diag = SymmetryDiagnostics.Create(h.IR, train)!;
        diag.OnStart(h.Context);
        h.Step(diag, 1); // warm-up
        Dictionary<string, float[]> Snapshot() => h.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        var before = Snapshot();
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var s = 10; s <= 50; s += 10) Assert.NotEmpty(h.Step(diag, s));
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        var after = Snapshot();
        foreach (var (k, v) in before) Assert.Equal(v, after[k]);
        Assert.All(h.Model.parameters(), p => Assert.True(p.grad is null || p.grad.abs().max().item<float>() == 0));
        Assert.Empty(h.Step(diag, 11)); // not due
    }

    [Fact]
    public void Cost_accounting_has_wall_and_thread_cpu_time_for_every_part()
    {
        var train = WithDiagnostics(MlpTrain(syre: false), D("collapse", "scale", "symmetry"), D("balance", "scale", "symmetry"),
            D("duplicates", "perm", "symmetry"), D("rank", "fc1.weight", "parameter"));
        using var h = new Harness(Mlp(16), train);
        using var diag = SymmetryDiagnostics.Create(h.IR, train)!;
        diag.OnStart(h.Context);
        h.Step(diag, 1);
        h.Step(diag, 10);
        var wall = diag.SecondsByMetric;
        var cpu = diag.CpuSecondsByMetric;
        Assert.Equal(new[] { "(forward)", "(snapshot)", "balance(scale)", "collapse(scale)", "duplicates(perm)", "rank(fc1.weight)" }, cpu.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(wall.Keys.Order(StringComparer.Ordinal), cpu.Keys.Order(StringComparer.Ordinal));
        Assert.All(wall.Values, v => Assert.True(v >= 0));
        // The thread clock exists on Linux and macOS (NaN elsewhere); the parts together used some CPU time.
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            Assert.All(cpu.Values, v => Assert.True(v >= 0 && double.IsFinite(v)));
            Assert.True(cpu.Values.Sum() > 0);
        }
    }

    [Fact]
    public void Duplicated_units_are_counted()
    {
        var train = WithDiagnostics(MlpTrain(syre: false), D("duplicates", "perm", "symmetry"));
        using var h = new Harness(Mlp(8), train);
        using (no_grad())
        {
            var w1 = h.Model.EffectiveParameter("fc1.weight").clone();
            var b1 = h.Model.EffectiveParameter("fc1.bias").clone();
            var w2 = h.Model.EffectiveParameter("fc2.weight").clone();
            foreach (var (dst, src) in new[] { (1, 0), (2, 0), (5, 4) })
            {
                w1[dst] = w1[src]; b1[dst] = b1[src]; w2[.., dst] = w2[.., src];
            }
            h.Set("fc1.weight", w1); h.Set("fc1.bias", b1); h.Set("fc2.weight", w2);
        }
        using var diag = SymmetryDiagnostics.Create(h.IR, train)!;
        diag.OnStart(h.Context);
        var m = h.Step(diag, 10);
        Assert.Equal(3.0, (double)m["duplicates(perm)"]!);
        Assert.Equal(2.0, (double)m["duplicates(perm).clusters"]!);
    }

    [Fact]
    public void Known_rank_and_collapsed_units_are_measured()
    {
        var train = WithDiagnostics(MlpTrain(syre: true), D("rank", "fc1.weight", "parameter"), D("collapse", "scale", "symmetry"));
        using var h = new Harness(Mlp(8), train);
        // fc1.weight = U diag(1, 1, 1, 0, …) Vᵀ: effective and stable rank 3 (set through the syre reparametrisation).
        var g = new Generator(7);
        var u = linalg.qr(randn(8, 8, generator: g)).Q.narrow(1, 0, 3);
        var v = linalg.qr(randn(64, 64, generator: g)).Q.narrow(1, 0, 3);
        h.Set("fc1.weight", u.matmul(v.t()));
        using var diag = SymmetryDiagnostics.Create(h.IR, train)!;
        diag.OnStart(h.Context);
        var m = h.Step(diag, 1);
        Assert.Equal(3.0, (double)m["rank(fc1.weight)"]!, 4); // float32 parameters: the null singular values are ~1e-7, not 0
        Assert.Equal(3.0, (double)m["rank(fc1.weight).stable"]!, 4);

        // Zero units 2 and 6 completely: collapsed, and dead on the probe batch (relu(0) = 0).
        using (no_grad())
        {
            var w1 = h.Model.EffectiveParameter("fc1.weight").clone();
            var b1 = h.Model.EffectiveParameter("fc1.bias").clone();
            var w2 = h.Model.EffectiveParameter("fc2.weight").clone();
            foreach (var i in new[] { 2, 6 }) { w1[i] = 0; b1[i] = 0; w2[.., i] = 0; }
            h.Set("fc1.weight", w1); h.Set("fc1.bias", b1); h.Set("fc2.weight", w2);
        }
        m = h.Step(diag, 10);
        Assert.Equal(2.0, (double)m["collapse(scale)"]!);
        Assert.Equal(2.0 / 8, (double)m["collapse(scale).fraction"]!);
        Assert.True((double)m["collapse(scale).dead"]! >= 2.0);
        Assert.InRange((double)m["rank(fc1.weight)"]!, 1.0, 3.0 + 1e-9); // two rows removed from a rank-3 matrix
    }

    [Fact]
    public void Gradient_metrics_match_autograd_on_the_trained_model()
    {
        var train = WithDiagnostics(MlpTrain(syre: false), D("balance", "scale", "symmetry"), D("alignment", "h", "site"));
        using var h = new Harness(Mlp(16), train);
        using var diag = SymmetryDiagnostics.Create(h.IR, train)!;
        diag.OnStart(h.Context);
        var m = h.Step(diag, 1);

        using var scope = NewDisposeScope();
        var captured = new Dictionary<string, Tensor>();
        var sites = new HashSet<string> { "h", "logits" };
        var probe = h.Context.ProbeBatch;
        var loss = Trainer.LossOf("cross_entropy", h.Model.Forward(probe, sites, captured)["logits"], probe["label"]);
        var w1 = h.Model.EffectiveParameter("fc1.weight");
        var b1 = h.Model.EffectiveParameter("fc1.bias");
        var w2 = h.Model.EffectiveParameter("fc2.weight");
        var grads = autograd.grad([loss], [w1, b1, w2, captured["h"], captured["logits"]], [ones_like(loss)]);
        var ratio = Balance.GradientRatio(grads[0], grads[1], grads[2]);
        Assert.Equal(ratio.Median, (double)m["balance(scale).grad_ratio"]!, 5);
        var q = Balance.RescaleConserved(w1, b1, w2);
        Assert.Equal(q.Average(Math.Abs), (double)m["balance(scale)"]!, 5);
        var crh = Alignment.Crh(captured["h"], captured["logits"], grads[3], grads[4], w2);
        Assert.Equal(crh.RgaB, (double)m["alignment(h).rga_b"]!, 5);
        Assert.Equal(crh.GwaA, (double)m["alignment(h).gwa_a"]!, 5);
        Assert.Equal(new[] { crh.RgaA, crh.GwaA, crh.RwaA, crh.RgaB, crh.GwaB, crh.RwaB }.Average(), (double)m["alignment(h)"]!, 5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Balance_uses_the_gradient_of_the_step_just_taken(bool syre)
    {
        var train = WithDiagnostics(MlpTrain(syre: syre), D("balance", "scale", "symmetry"));
        using var h = new Harness(Mlp(16), train);
        using var opt = Trainer.BuildOptimizer(h.Model, train.Optimizer);
        using var step = SymmetryDiagnostics.Create(h.IR, train)!;
        using var probe = SymmetryDiagnostics.Create(h.IR, train, new DiagnosticsOptions(GradientSource.Probe))!;
        step.OnStart(h.Context);
        probe.OnStart(h.Context);
        var named = h.Model.named_parameters().ToDictionary(np => np.name, np => np.parameter);
        Tensor Raw(string logical) => named[h.Model.RawKeys[logical][0]];
        float[] before;
        using (var scope = NewDisposeScope())
        {
            var batch = h.Data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, 100, 64));
            opt.zero_grad();
            h.Context.Loss(batch).backward();
            before = Raw("fc1.weight").grad!.data<float>().ToArray();
            opt.step(); // weight decay and momentum must not change .grad
        }
        Assert.Equal(before, Raw("fc1.weight").grad!.data<float>().ToArray());
        var expected = Balance.GradientRatio(Raw("fc1.weight").grad!, Raw("fc1.bias").grad!, Raw("fc2.weight").grad!);
        var m = h.Step(step, 10);
        Assert.Equal(expected.Median, (double)m["balance(scale).grad_ratio"]!, 6);
        Assert.Equal(expected.MeanLogRatio, (double)m["balance(scale).log_ratio"]!, 6);
        var mp = h.Step(probe, 10); // a fresh probe-batch gradient: another batch, another ratio
        Assert.NotEqual(expected.Median, (double)mp["balance(scale).grad_ratio"]!, 6);
        Assert.Equal((double)m["balance(scale)"]!, (double)mp["balance(scale)"]!, 9);
    }

    const string Staircase = """
        model Deep {
            input x: [8]
            layer l1 = Linear(8, 8, bias = false, init = normal(0.001))
            layer l2 = Linear(8, 8, bias = false, init = normal(0.001))
            h = l1(x)
            output y = l2(h)
            symmetry rot : rotation(h)
        }
        train Deep {
            data lowrank_regression(d = 8, rank = 3, samples = 512, top = 2.0, ratio = 0.5)
            loss mse(y, target)
            optimizer sgd(lr = 0.2)
            batch 512
            steps 400
            seed 1
            diagnose rank(l1.weight), rank(h) every 10 steps
        }
        """;

    [Fact]
    public void Deep_linear_from_small_init_learns_modes_one_at_a_time()
    {
        var c = SymDsl.Compiler.CompileText("staircase.sym", Staircase);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var program = c.Program!;
        using var diag = SymmetryDiagnostics.Create(program.Models[0], program.Trains[0])!;
        var dir = TempDir("staircase");
        Trainer.Run(program, program.Trains[0], new TrainOptions(dir), observers: [diag]);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement;
        var events = summary.GetProperty("events").EnumerateArray()
            .Select(e => (step: e.GetProperty("step").GetInt64(), kind: e.GetProperty("kind").GetString()!, message: e.GetProperty("message").GetString()!)).ToList();
        Assert.Equal(events.Select(e => e.step).OrderBy(s => s), events.Select(e => e.step));
        // one mode event per target mode (rank 3) for the weight and the site, strongest first, at increasing steps
        foreach (var key in new[] { "rank(l1.weight)", "rank(h)" })
        {
            var modes = events.Where(e => e.kind == key).ToList();
            Assert.Equal(3, modes.Count);
            for (int k = 0; k < 3; k++) Assert.StartsWith($"{key} mode {k + 1} learned", modes[k].message);
            Assert.True(modes[0].step < modes[1].step && modes[1].step < modes[2].step, string.Join(", ", modes));
        }
    }

    const string NormNet = """
        model N {
            input x: [64]
            layer l1 = Linear(64, 12, bias = false)
            layer l2 = Linear(12, 16)
            layer norm = LayerNorm(16)
            layer head = Linear(16, 10)
            h = l1(x)
            z = l2(h)
            output logits = head(relu(norm(z)))
            symmetry rot : rotation(h)
            symmetry sc : scale(z)
            symmetry shift : translation(logits)
        }
        train N {
            data digits(test_fraction = 0.2)
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9, weight_decay = 1e-3)
            batch 64
            steps 10
            seed 4
            diagnose balance(rot), norm(sc), drift(shift), alignment(h) every 5 steps
        }
        """;

    [Fact]
    public void Rotation_balance_norm_and_drift_match_the_final_parameters()
    {
        var c = SymDsl.Compiler.CompileText("norm.sym", NormNet);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var program = c.Program!;
        var (model, train) = (program.Models[0], program.Trains[0]);
        using var diag = SymmetryDiagnostics.Create(model, train)!;
        var dir = TempDir("norm");
        Trainer.Run(program, train, new TrainOptions(dir), observers: [diag]);
        var last = JsonDocument.Parse(File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Last()).RootElement;
        Assert.Equal(10, last.GetProperty("step").GetInt64());
        double V(string k) => last.GetProperty(k).GetDouble();

        using var trained = RunComparison.Load(model, dir, train); // the checkpoint of step 10, float64
        var p = trained.EffectiveParameters();
        var w1 = p["l1.weight"]; var w2 = p["l2.weight"];
        var expectedC = (w1.matmul(w1.t()) - w2.t().matmul(w2)).norm().item<double>();
        Assert.Equal(expectedC, V("balance(rot)"), 4);
        var gi = V("balance(rot).grad_imbalance");
        Assert.InRange(gi, 0.0, 1.0);
        var norm = Norm.Frobenius([p["l2.weight"], p["l2.bias"]]);
        Assert.Equal(norm, V("norm(sc)"), 4);
        Assert.Equal(V("lr") / (norm * norm), V("norm(sc).eff_lr"), 6);
        Assert.Equal(Drift.MeanBias(p["head.bias"]), V("drift(shift)"), 6);
        foreach (var k in new[] { "rga_a", "gwa_a", "rwa_a", "rga_b", "gwa_b", "rwa_b" })
            Assert.InRange(V($"alignment(h).{k}"), -1.0, 1.0);
    }

    [Fact]
    public void Rank_changes_become_events_in_step_order()
    {
        var train = WithDiagnostics(MlpTrain(syre: false), D("rank", "fc1.weight", "parameter", every: 1), D("collapse", "scale", "symmetry", every: 1));
        using var h = new Harness(Mlp(8), train);
        using var diag = SymmetryDiagnostics.Create(h.IR, train)!;
        diag.OnStart(h.Context);
        var g = new Generator(11);
        var u = linalg.qr(randn(8, 8, generator: g)).Q;
        var v = linalg.qr(randn(64, 64, generator: g)).Q.narrow(1, 0, 8);
        var w2 = h.Model.EffectiveParameter("fc2.weight").detach().clone();
        // rank 1 for steps 1–5, rank 2 for 6–10, a one-step blip to 4 at 11, rank 3 from 12 on
        int RankAt(long s) => s <= 5 ? 1 : s <= 10 ? 2 : s == 11 ? 4 : 3;
        for (long s = 1; s <= 16; s++)
        {
            int r = RankAt(s);
            var w = u.narrow(1, 0, r).matmul(v.narrow(1, 0, r).t());
            h.Set("fc1.weight", w);
            h.Step(diag, s);
        }
        var summary = new TrainSummary();
        summary.Events.Add(new TrainEvent(7, "other", "an earlier event from someone else"));
        diag.OnEnd(h.Context, summary);
        // Mode events: mode 1 is at its final value from the start (no rise, no event); mode 2 rises at 6; mode 3 first at the
        // blip (11), and stays from 12 on, so its rise that stays is at 11; mode 4 ends at 0 (below 0.05·s1: not in the rank).
        var rankEvents = summary.Events.Where(e => e.Kind == "rank(fc1.weight)").ToList();
        Assert.Equal(2, rankEvents.Count);
        Assert.Equal(6, rankEvents[0].Step);
        Assert.Equal("rank(fc1.weight) mode 2 learned: sv2 0 → 1 (half of final 1)", rankEvents[0].Message);
        Assert.Equal(2.0, rankEvents[0].Value);
        Assert.Equal(11, rankEvents[1].Step);
        Assert.Equal(3.0, rankEvents[1].Value);
        Assert.Equal(summary.Events.Select(e => e.Step).OrderBy(s => s), summary.Events.Select(e => e.Step));
        // rows of a rank-r fc1.weight with r < 8: 8 − r units lie in... collapse needs in AND out ≈ 0, so none here
        Assert.DoesNotContain(summary.Events, e => e.Kind == "collapse(scale)");
        Assert.Equal(16, diag.Series["rank(fc1.weight)"].Count);
        // the same observer started again (a new run) begins a new series
        diag.OnStart(h.Context);
        Assert.Empty(diag.Series["rank(fc1.weight)"]);
        Assert.NotEmpty(h.Step(diag, 1));
        Assert.Single(diag.Series["rank(fc1.weight)"]);
    }
}
