using System.Diagnostics;
using SymDsl.Cli;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary>
/// <c>symc train FILE --init-from PATH</c>: a state_dict written by TorchSharp.PyBridge (torch.save's format and
/// safetensors) or by PyTorch itself starts a run; its values become the initial effective parameters (through syre and
/// induce) and buffers; missing, extra, mis-shaped keys and unreadable files are one-line errors.
/// </summary>
public class InitFromTests
{
    /// <summary>
    /// A learning rate of 1e-30 leaves every weight as it was after a step (the update is below float32's resolution of
    /// the weights), and BatchNorm's momentum 0 its running statistics: the run's weights.dat, written after one step,
    /// shows the initial values exactly (up to the 1e-30 steps on weights that are nearly 0).
    /// </summary>
    const string Net = """
        model Net(width: int = 6) {
            input x: [64]
            layer fc1 = Linear(64, width)
            layer bn = BatchNorm(width, momentum = 0.0)
            layer fc2 = Linear(width, 10)
            h = relu(bn(fc1(x)))
            output logits = fc2(h)
            symmetry perm : permutation(h)
        }
        train Net {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer sgd(lr = 1e-30)
            batch     64
            steps     1
            seed      5
            break     syre(sigma = 0.5) on perm
            induce    sparsity on fc2.weight
        }
        """;

    static (string Dir, string Source, ModelIR Model) Setup(string source = Net)
    {
        var dir = Symc.TempDir();
        var file = Path.Combine(dir, "net.sym");
        File.WriteAllText(file, source);
        var compilation = Compiler.CompileFile(file);
        Assert.False(compilation.HasErrors, string.Join("\n", compilation.Diagnostics));
        return (dir, file, compilation.Program!.Models.Single());
    }

    /// <summary>A plain model (weights.dat's layout) with values unlike any seed's initialisation, and nonzero running statistics.</summary>
    static SymModel Weights(ModelIR model)
    {
        var m = new SymModel(model, null, seed: 1234);
        using var scope = NewDisposeScope();
        using var gen = new Generator(99);
        m.SetEffectiveParameters(model.Parameters.ToDictionary(p => p.Name, p => randn(m.EffectiveParameter(p.Name).shape, generator: gen) * 0.3));
        m.SetBuffers(new Dictionary<string, Tensor>
        {
            ["bn.running_mean"] = randn([6], generator: gen),
            ["bn.running_var"] = rand([6], generator: gen) + 0.5,
            ["bn.num_batches_tracked"] = tensor(7L),
        });
        return m;
    }

    /// <summary>Trains with --init-from and compares the run's weights.dat with the file's values.</summary>
    static void AssertStartsFrom(string dir, string source, ModelIR model, string weightsFile, SymModel expected)
    {
        var run = Path.Combine(dir, "run-" + Path.GetFileName(weightsFile));
        var r = Symc.Run("train", source, "--out", run, "--init-from", weightsFile);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains(Path.GetFullPath(weightsFile), File.ReadAllText(Path.Combine(run, "run.json")));

        using var scope = NewDisposeScope();
        using var trained = new SymModel(model);
        trained.load(Path.Combine(run, "weights.dat"));
        foreach (var p in model.Parameters)
        {
            var want = expected.EffectiveParameter(p.Name);
            var got = trained.EffectiveParameter(p.Name);
            Assert.True(got.allclose(want, rtol: 1e-6, atol: 1e-6), $"{p.Name}: max difference {(got - want).abs().max().item<float>()}");
        }
        Assert.True(trained.Buffer("bn.running_mean").allclose(expected.Buffer("bn.running_mean")));
        Assert.True(trained.Buffer("bn.running_var").allclose(expected.Buffer("bn.running_var")));
        Assert.Equal(8L, trained.Buffer("bn.num_batches_tracked").item<long>()); // 7 loaded, one step taken
    }

    [Fact]
    public void A_pytorch_state_dict_or_safetensors_file_written_by_pybridge_sets_the_initial_effective_parameters_and_buffers()
    {
        var (dir, source, model) = Setup();
        using var weights = Weights(model);
        var pt = Path.Combine(dir, "weights.pt");
        var st = Path.Combine(dir, "weights.safetensors");
        weights.save_py(pt);
        weights.save_safetensors(st);
        AssertStartsFrom(dir, source, model, pt, weights);
        AssertStartsFrom(dir, source, model, st, weights);

        // Without --init-from the run starts from its seed's initialisation: the test above can fail.
        var fresh = Path.Combine(dir, "fresh");
        Assert.Equal(0, Symc.Run("train", source, "--out", fresh).ExitCode);
        using var scope = NewDisposeScope();
        using var trained = new SymModel(model);
        trained.load(Path.Combine(fresh, "weights.dat"));
        Assert.False(trained.EffectiveParameter("fc1.weight").allclose(weights.EffectiveParameter("fc1.weight"), rtol: 1e-3, atol: 1e-3));
        Assert.DoesNotContain("init_from", File.ReadAllText(Path.Combine(fresh, "run.json")));
    }

    [Fact]
    public void A_run_started_from_another_runs_weights_continues_from_its_loss()
    {
        // The trained run's own weights.dat, re-saved as a PyTorch file, start a second run whose first loss is the
        // trained run's, not a fresh initialisation's (about ln 10).
        var (dir, _, model) = Setup();
        var mlp = Path.Combine(dir, "mlp.sym");
        File.WriteAllText(mlp, File.ReadAllText(Paths.Example("mlp.sym")));
        var first = Path.Combine(dir, "first");
        Assert.Equal(0, Symc.Run("train", mlp, "--out", first, "--set", "width=16", "--steps", "60").ExitCode);
        var mlpModel = Compiler.CompileFile(mlp, new CompileOptions(new Dictionary<string, string> { ["width"] = "16" })).Program!.Models.Single();
        using (var plain = new SymModel(mlpModel))
        {
            plain.load(Path.Combine(first, "weights.dat"));
            plain.save_py(Path.Combine(dir, "first.pt"));
        }
        var second = Path.Combine(dir, "second");
        var r = Symc.Run("train", mlp, "--out", second, "--set", "width=16", "--steps", "1", "--seed", "9", "--init-from", Path.Combine(dir, "first.pt"));
        Assert.True(r.ExitCode == 0, r.All);
        var trainedLoss = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(first, "summary.json"))).RootElement.GetProperty("train_loss").GetDouble();
        var firstLine = System.Text.Json.JsonDocument.Parse(File.ReadLines(Path.Combine(second, "metrics.jsonl")).First()).RootElement.GetProperty("loss").GetDouble();
        Assert.InRange(firstLine, 0, trainedLoss + 0.5);
        Assert.True(trainedLoss < 1.5, $"the first run did not learn (train loss {trainedLoss})");
    }

    [Fact]
    public void Missing_extra_misshaped_and_unreadable_weights_are_one_line_errors()
    {
        var (dir, source, model) = Setup();
        using var weights = Weights(model);
        var state = weights.state_dict();
        void Save(string name, Dictionary<string, Tensor> dict)
        {
            using var stream = File.Create(Path.Combine(dir, name));
            Safetensors.SaveStateDict(stream, dict);
        }
        Save("missing.safetensors", state.Where(kv => kv.Key != "fc1.bias").ToDictionary());
        Save("extra.safetensors", state.Append(new("fc3.weight", zeros(2, 2))).ToDictionary());
        Save("shape.safetensors", state.Select(kv => kv.Key == "fc1.weight" ? new KeyValuePair<string, Tensor>(kv.Key, zeros(5, 64)) : kv).ToDictionary());
        File.WriteAllText(Path.Combine(dir, "garbage.pt"), "not a weights file at all");

        void Fails(string file, params string[] expected)
        {
            var run = Path.Combine(dir, "run-" + file);
            var r = Symc.Run("train", source, "--out", run, "--init-from", Path.Combine(dir, file));
            Assert.Equal(ExitCodes.InputError, r.ExitCode);
            foreach (var e in expected) Assert.Contains(e, r.Err);
            Assert.Single(r.Err.Trim().Split('\n'), l => !l.Contains(" warning SYM")); // the model's own warnings aside
            Symc.AssertNoStackTrace(r);
            Assert.False(Directory.Exists(run)); // checked before the run directory is touched
        }
        Fails("missing.safetensors", "missing.safetensors: missing key 'fc1.bias' (parameter fc1.bias, shape [6])");
        Fails("extra.safetensors", "extra.safetensors: unexpected key 'fc3.weight' (shape [2, 2]): model Net has no such parameter or buffer");
        Fails("shape.safetensors", "shape.safetensors: key 'fc1.weight' has shape [5, 64], expected [6, 64]");
        Fails("garbage.pt", "garbage.pt: cannot read it as a PyTorch state_dict (torch.save) or a safetensors file");
        Fails("none.pt", "none.pt: no such file");

        // A file for another width: every mismatch counted, the first named.
        var r = Symc.Run("train", source, "--out", Path.Combine(dir, "wide"), "--set", "width=8", "--init-from", Path.Combine(dir, "missing.safetensors"));
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("more problems", r.Err);

        var both = Symc.Run("train", source, "--out", Path.Combine(dir, "both"), "--resume", "--init-from", Path.Combine(dir, "extra.safetensors"));
        Assert.Equal(ExitCodes.Usage, both.ExitCode);
        Assert.Contains("give either --init-from or --resume, not both", both.Err);
    }

    [PythonTorchFact]
    public void A_state_dict_written_by_torch_save_starts_a_run()
    {
        var (dir, source, model) = Setup();
        using var weights = Weights(model);
        var pybridge = Path.Combine(dir, "pybridge.pt");
        weights.save_py(pybridge);
        var saved = Path.Combine(dir, "torch-saved.pt");
        // PyTorch reads PyBridge's file and writes its own (torch.save of a fresh OrderedDict of cloned tensors).
        var script = "import sys, collections, torch\n" +
                     "sd = torch.load(sys.argv[1])\n" +
                     "torch.save(collections.OrderedDict((k, v.clone()) for k, v in sd.items()), sys.argv[2])\n";
        var start = new ProcessStartInfo(PythonTorch.Interpreter ?? throw new Xunit.Sdk.XunitException(PythonTorch.Missing), ["-c", script, pybridge, saved])
        { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(start)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(300_000) && p.ExitCode == 0, err.Result);
        AssertStartsFrom(dir, source, model, saved, weights);
    }
}
