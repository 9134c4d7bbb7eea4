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

/// <summary>
/// alignment(site) at conv layers (SymmetryDiagnostics.AlignmentLayer's rules): a convolution producing the site from the input, a
/// BatchNorm-then-conv chain, a global average pool read by a Linear, a convolution producing a hidden site; each measured value
/// equals Alignment.CrhConv / Alignment.Crh on the tensors of an evaluation-mode pass of the same model.
/// </summary>
[Collection("torch")]
public class ConvAlignmentDiagnosticsTests
{
    const string Source = """
        model C {
            input x: [1, 8, 8]
            layer c1 = Conv2d(1, 4, 3, padding = 1, bias = false)
            layer bn = BatchNorm(4)
            layer c2 = Conv2d(4, 6, 3, stride = 2, padding = 1)
            layer head = Linear(6, 10)
            a = c1(x)
            h = relu(a)
            m = bn(h)
            u = c2(m)
            g = relu(u)
            p = global_avg_pool(g)
            output logits = head(p)
        }
        train C {
            data digits(test_fraction = 0.2)
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.05)
            batch 32
            steps 3
            seed 3
            diagnose alignment(a), alignment(h), alignment(u), alignment(g), alignment(p) every 10 steps
        }
        """;

    [Fact]
    public void Alignment_at_conv_sites_matches_the_im2col_reading_by_hand()
    {
        var c = Compiler.CompileText("c.sym", Source);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var program = c.Program!;
        var ir = program.Models[0];
        var train = program.Trains[0];
        using var model = new SymModel(ir, Trainer.Reparametrisations(train), 3);
        using var data = DataSources.Digits(0.2, 1);
        var probe = new Dictionary<string, Tensor>
        {
            ["x"] = data.Train["x"].narrow(0, 0, 48).reshape(-1, 1, 8, 8),
            ["label"] = data.Train["label"].narrow(0, 0, 48),
        };
        var context = new TrainingContext
        {
            Model = model, ModelIR = ir, Train = train, Device = CPU, OutDir = TempDir("conv-align"), Seed = 3, Data = data,
            ProbeBatch = probe, Loss = b => Trainer.LossOf("cross_entropy", model.Forward(b)["logits"], b["label"]),
            TotalSteps = 3, StepsPerEpoch = 3, StartStep = 0,
        };
        using var diag = SymmetryDiagnostics.Create(ir, train)!;
        diag.OnStart(context);
        var m = new Dictionary<string, object?>();
        using (var s = NewDisposeScope()) diag.OnStep(context, 1, m);

        using var scope = NewDisposeScope();
        model.eval(); // the diagnostics measure in evaluation mode
        var captured = new Dictionary<string, Tensor>();
        var loss = Trainer.LossOf("cross_entropy", model.Forward(probe, new HashSet<string> { "a", "m", "u", "p", "logits" }, captured)["logits"], probe["label"]);
        string[] names = ["a", "u", "p", "logits"];
        var grads = autograd.grad([loss], names.Select(n => captured[n]).ToList(), [ones_like(loss)]);
        var g = names.Select((n, i) => (n, grads[i])).ToDictionary(t => t.n, t => -t.Item2);
        var w1 = model.EffectiveParameter("c1.weight");
        var w2 = model.EffectiveParameter("c2.weight");
        var wh = model.EffectiveParameter("head.weight");

        var expected = new Dictionary<string, CrhAlignment>
        {
            ["alignment(a)"] = Alignment.CrhConv(probe["x"], captured["a"], g["a"], w1, 1, 1),        // conv produces the site from the input
            ["alignment(h)"] = Alignment.CrhConv(captured["m"], captured["u"], g["u"], w2, 2, 1),     // BatchNorm then conv reads the site
            ["alignment(u)"] = Alignment.CrhConv(captured["m"], captured["u"], g["u"], w2, 2, 1),     // conv produces the site
            ["alignment(g)"] = Alignment.Crh(captured["p"], captured["logits"], g["p"], g["logits"], wh), // pooled, then Linear
            ["alignment(p)"] = Alignment.Crh(captured["p"], captured["logits"], g["p"], g["logits"], wh),
        };
        foreach (var (key, e) in expected)
        {
            double[] six = [e.RgaA, e.GwaA, e.RwaA, e.RgaB, e.GwaB, e.RwaB];
            string[] sub = ["rga_a", "gwa_a", "rwa_a", "rga_b", "gwa_b", "rwa_b"];
            for (int i = 0; i < 6; i++)
            {
                Assert.True(double.IsFinite(six[i]), $"{key}.{sub[i]}");
                Assert.Equal(six[i], (double)m[$"{key}.{sub[i]}"]!, 5);
            }
            Assert.Equal(six.Average(), (double)m[key]!, 5);
            var baseline = (double)m[key + ".baseline"]!;
            Assert.InRange(baseline, -1.0, 1.0);
        }
        // The baseline depends on the layer's sizes only: a's layer (48·64 patch rows of 9) against p's (48 rows of 6 → 10).
        Assert.NotEqual((double)m["alignment(a).baseline"]!, (double)m["alignment(p).baseline"]!);
        Assert.Equal((double)m["alignment(g).baseline"]!, (double)m["alignment(p).baseline"]!);
    }

    [Fact]
    public void A_site_no_rule_reads_is_a_clear_error()
    {
        var c = Compiler.CompileText("c.sym", Source.Replace("alignment(a), alignment(h), alignment(u), alignment(g), alignment(p)", "alignment(logits)"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        // logits is produced by a Linear: measurable; a site only an add consumes and an activation produces is not.
        Assert.NotNull(SymmetryDiagnostics.Create(c.Program!.Models[0], c.Program.Trains[0]));
        var bad = Compiler.CompileText("c.sym", Source
            .Replace("p = global_avg_pool(g)", "p = global_avg_pool(g + g)")
            .Replace("alignment(a), alignment(h), alignment(u), alignment(g), alignment(p)", "alignment(g)"));
        Assert.False(bad.HasErrors, string.Join("\n", bad.Diagnostics));
        var e = Assert.Throws<SymDslException>(() => SymmetryDiagnostics.Create(bad.Program!.Models[0], bad.Program.Trains[0]));
        Assert.Contains("diagnose alignment(g): alignment needs a Linear or Conv layer", e.Message);
    }
}
