using System.Text.Json;
using SymDsl.Cli.Commands;
using SymDsl.IR;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Symmetry;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary>
/// <c>symc canon RUN --out DIR</c> on trained runs: the canonical run computes the run's function (checked and stored in
/// canon.json), and two runs in one orbit — a trained run and the same run with a random group element applied (permutations,
/// rescalings, signs, scale, translation of every inferred symmetry but rotation, buffers moved along) — have the same canonical
/// parameters and buffers to 1e-6: an MLP, a tanh net (signs), a conv net with BatchNorm and an attention model.
/// </summary>
public class CanonCommandTests
{
    const string ConvBn = """
        model ConvBn(c: int = 6) {
            input x: [1, 8, 8]
            layer conv  = Conv2d(1, c, 3, padding = 1)
            layer bn    = BatchNorm(c)
            layer conv2 = Conv2d(c, c, 3, padding = 1)
            layer bn2   = BatchNorm(c)
            layer head  = Linear(c, 10)
            u = relu(bn(conv(x)))
            v = relu(bn2(conv2(u)))
            output logits = head(global_avg_pool(v))
        }
        train ConvBn {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9)
            batch     32
            steps     15
            seed      1
        }
        """;

    const string Attention = """
        model Attn(d: int = 16, heads: int = 4) {
            input x: [8, 8]
            layer proj = Linear(8, d)
            layer ln   = LayerNorm(d)
            layer attn = SelfAttention(d, heads)
            layer head = Linear(d, 10)
            z = proj(x)
            a = attn(ln(z))
            pooled = mean(a)
            output logits = head(pooled)
        }
        train Attn {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer adam(lr = 1e-2)
            batch     32
            steps     15
            seed      1
        }
        """;

    /// <summary>Trains the named model briefly into DIR/run; returns the run directory.</summary>
    static string Train(string name, string dir)
    {
        var run = Path.Combine(dir, "run");
        string[] args = name switch
        {
            "mlp" => ["train", Paths.Example("mlp.sym"), "--set", "width=16", "--steps", "20"],
            "tanh" => ["train", Paths.Example("tanh_net.sym"), "--set", "hidden=12", "--steps", "20"],
            "convbn" => ["train", Write(dir, "convbn.sym", ConvBn)],
            "attention" => ["train", Write(dir, "attn.sym", Attention)],
            _ => throw new ArgumentException(name),
        };
        var r = Symc.Run([.. args, "--out", run]);
        Assert.True(r.ExitCode == 0, r.All);
        return run;
    }

    static string Write(string dir, string file, string text)
    {
        var path = Path.Combine(dir, file);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>The run's model with a random element of every non-rotation symmetry applied, written as a derived run.</summary>
    static string Transformed(string run, string outDir, int seed)
    {
        var (model, train) = RunManifest.Read(run).Rebuild();
        var symmetries = train.Symmetries.Count > 0 ? train.Symmetries : model.Symmetries;
        using var scope = NewDisposeScope();
        using var m = RunComparison.Load(model, run, train);
        var p = m.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var b = m.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var rng = new Random(seed);
        foreach (var sym in symmetries.Where(s => s.Kind != SymmetryKind.Rotation))
        {
            var g = GroupActions.Sample(sym, rng, scale: 0.5);
            p = GroupActions.Apply(sym, g, p);
            b = GroupActions.ApplyToBuffers(sym, g, b);
        }
        DerivedRun.Write(run, outDir, p, b, new DerivedFrom("test", [run]));
        return outDir;
    }

    static (Dictionary<string, Tensor> P, Dictionary<string, Tensor> B) Load(string run)
    {
        var (model, train) = RunManifest.Read(run).Rebuild();
        using var m = RunComparison.Load(model, run, train);
        return (m.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()),
                m.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
    }

    /// <summary>max |a − b| over every entry relative to the largest |a| over every tensor; the worst tensor's name.</summary>
    static (double Distance, string Worst) Distance(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b)
    {
        if (a.Count == 0) return (0, "");
        static Tensor F(Tensor t) => t.to(ScalarType.Float64);
        double scale = Math.Max(a.Values.Max(x => F(x).abs().max().item<double>()), 1e-300);
        return a.Select(kv => ((F(kv.Value) - F(b[kv.Key])).abs().max().item<double>() / scale, kv.Key)).Max();
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("tanh")]
    [InlineData("convbn")]
    [InlineData("attention")]
    public void Canonical_forms_of_a_run_and_of_the_run_moved_along_its_orbit_agree_and_keep_the_function(string name)
    {
        var dir = Symc.TempDir();
        var run = Train(name, dir);
        var moved = Transformed(run, Path.Combine(dir, "moved"), seed: 7);

        var r0 = Symc.Run("canon", run, "--out", Path.Combine(dir, "canon-run"), "--probe", "64");
        Assert.True(r0.ExitCode == 0, r0.All);
        Assert.Contains("same function: max relative output difference", r0.Out);
        var r1 = Symc.Run("canon", moved, "--out", Path.Combine(dir, "canon-moved"), "--probe", "64");
        Assert.True(r1.ExitCode == 0, r1.All);

        using var scope = NewDisposeScope();
        var (p, b) = Load(run);
        var (gp, _) = Load(moved);
        Assert.True(Distance(p, gp).Distance > 1e-2, "the random group element moved nothing");
        var (c0, cb0) = Load(Path.Combine(dir, "canon-run"));
        var (c1, cb1) = Load(Path.Combine(dir, "canon-moved"));
        var (dp, worst) = Distance(c0, c1);
        Assert.True(dp < 1e-6, $"{name}: canonical parameters differ by {dp:E2} (relative, worst {worst})");
        var (db, worstBuffer) = Distance(cb0, cb1);
        Assert.True(db < 1e-6, $"{name}: canonical buffers differ by {db:E2} (relative, worst {worstBuffer})");

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "canon-run", CanonCommand.FileName)));
        var check = json.RootElement.GetProperty("function_check");
        Assert.True(check.GetProperty("holds").GetBoolean());
        double tolerance = check.GetProperty("tolerance").GetDouble();
        Assert.InRange(check.GetProperty("max_relative_difference_float64").GetDouble(), 0, tolerance);
        Assert.InRange(check.GetProperty("max_relative_difference_written").GetDouble(), 0, Math.Max(tolerance, 1e-5));
        var actions = json.RootElement.GetProperty("symmetries").EnumerateArray().Select(s => s.GetProperty("action").GetString()).ToList();
        Assert.Contains("sorted", actions);
        Assert.Contains(name == "tanh" ? "signs_fixed" : name == "attention" ? "unit_rms" : "balanced", actions);
        Assert.Equal("canon", JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "canon-run", RunManifest.FileName)))
            .RootElement.GetProperty("derived_from").GetProperty("command").GetString());
    }

    [Fact]
    public void A_missing_run_or_no_out_is_a_clear_error()
    {
        var dir = Symc.TempDir();
        var missing = Symc.Run("canon", Path.Combine(dir, "nope"), "--out", Path.Combine(dir, "c"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("does not exist", missing.Err);
        Symc.AssertNoStackTrace(missing);
        var usage = Symc.Run("canon", dir);
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("--out", usage.Err);
    }
}
