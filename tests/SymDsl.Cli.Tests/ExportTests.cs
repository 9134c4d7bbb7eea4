using System.Text.Json;
using SymDsl.Cli.Commands;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary>
/// <c>symc export RUN --to pytorch</c>: the PyTorch twin, run by python3 with Debian's python3-torch (installed by .ci/python),
/// computes SymDsl's outputs with the exported weights, for every example model; a trained MLP classifies its test split as
/// well in PyTorch as in SymDsl; every permutation of symmetries.json's re-basin spec leaves the twin's outputs unchanged.
/// </summary>
public class ExportTests
{
    /// <summary>Every example model (examples/*.sym and examples/*/*.sym), as (file, model).</summary>
    static IEnumerable<(string File, ModelIR Model, TrainIR? Train)> ExampleModels()
    {
        var root = Path.Combine(Paths.Root, "examples");
        var files = Directory.GetFiles(root, "*.sym").Concat(Directory.GetDirectories(root).SelectMany(d => Directory.GetFiles(d, "*.sym"))).Order();
        foreach (var file in files)
        {
            var compilation = Compiler.CompileFile(file);
            Assert.False(compilation.HasErrors, string.Join("\n", compilation.Diagnostics));
            var program = compilation.Program!;
            foreach (var model in program.Models)
                yield return (Path.GetRelativePath(Paths.Root, file), model, program.Trains.FirstOrDefault(t => t.Model == model.Name));
        }
    }

    [PythonTorchFact]
    public void The_twin_of_every_example_model_computes_SymDsl_outputs_with_the_exported_weights()
    {
        var root = Symc.TempDir();
        var cases = new Dictionary<string, string>();
        var keys = new Dictionary<string, List<string>>();
        int index = 0;
        foreach (var (file, model, train) in ExampleModels())
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            // The train block's reparametrisations (syre offsets, induced factors): the export folds them into the effective parameters.
            using var symModel = new SymModel(model, train is null ? null : Trainer.Reparametrisations(train, model), seed: 5);
            symModel.eval();
            // Running statistics away from their initial 0 and 1, so that evaluation mode reads them.
            using (var gen = new Generator(6))
                symModel.SetBuffers(symModel.Buffers().Where(kv => kv.Value.is_floating_point())
                    .ToDictionary(kv => kv.Key, kv => kv.Key.EndsWith("var", StringComparison.Ordinal)
                        ? rand(kv.Value.shape, generator: gen) + 0.5 : randn(kv.Value.shape, generator: gen) * 0.1));
            var dir = Path.Combine(root, $"{index++:D2}_{model.Name}");
            PyTorchExport.Write(model, train?.Symmetries ?? model.Symmetries, symModel, dir, file);

            var inputs = RandomInputs(model);
            var outputs = symModel.Forward(inputs);
            // The outputs are compared relative to their scale (examples/stepwise-deep-linear starts near 0). An output that is
            // the same for every example (every unit cut off by a relu) would hide a wrong twin.
            foreach (var o in model.Outputs)
                Assert.True((outputs[o.Name] - outputs[o.Name].narrow(0, 0, 1)).abs().max().item<float>() > 1e-3 * outputs[o.Name].abs().max().item<float>(),
                    $"{file}: {model.Name}.{o.Name} is the same for every example");
            var casePt = new Dictionary<string, Tensor>();
            foreach (var (name, t) in inputs) casePt["input." + name] = t;
            foreach (var o in model.Outputs) casePt["output." + o.Name] = outputs[o.Name].to(ScalarType.Float32);
            PyTorchPickler.PickleStateDict(Path.Combine(dir, "case.pt"), casePt);
            cases[dir] = $"{file}: {model.Name}";
            // weights.dat's keys: those of a plain lowered model (WeightsExport saves one).
            using (var plain = new SymModel(model))
                keys[dir] = plain.state_dict().Keys.Order(StringComparer.Ordinal).ToList();
        }

        var failures = new List<string>();
        foreach (var result in PythonTorch.CheckTwins(cases.Keys))
        {
            var what = cases[result.GetProperty("case").GetString()!];
            if (result.TryGetProperty("error", out var error)) { failures.Add($"{what}: {error.GetString()}"); continue; }
            var twinKeys = result.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).Order(StringComparer.Ordinal).ToList();
            var dir = result.GetProperty("case").GetString()!;
            if (!twinKeys.SequenceEqual(keys[dir])) failures.Add($"{what}: the twin's keys [{string.Join(", ", twinKeys)}] are not weights.dat's [{string.Join(", ", keys[dir])}]");
            var diff = result.GetProperty("max_diff").GetDouble();
            var scale = result.GetProperty("scale").GetDouble();
            if (!(diff <= 1e-5 * scale)) failures.Add($"{what}: the twin's outputs differ from SymDsl's by {diff} (scale {scale})");
            foreach (var perm in result.GetProperty("permutations").EnumerateObject())
                if (!(perm.Value.GetDouble() <= 1e-4 * scale))
                    failures.Add($"{what}: permuting the state dict by {perm.Name} as axes_to_perm says changes the outputs by {perm.Value.GetDouble()}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(cases.Count >= 16, $"only {cases.Count} example models");
    }

    [PythonTorchFact]
    public void A_trained_MLP_classifies_its_test_split_as_well_in_PyTorch_as_in_SymDsl()
    {
        // examples/mlp.sym trains with syre: weights.pt holds the effective θ + θ₀.
        string run = Symc.TempDir(), outDir = Path.Combine(Symc.TempDir(), "twin");
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", run, "--steps", "40", "--set", "width=16");
        Assert.True(r.ExitCode == 0, r.All);
        r = Symc.Run("export", run, "--to", "pytorch", "--out", outDir);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.True(File.Exists(Path.Combine(outDir, "Mlp.py")) && File.Exists(Path.Combine(outDir, "weights.pt")), r.All);

        var program = Compiler.CompileFile(Paths.Example("mlp.sym"), new CompileOptions(new Dictionary<string, string> { ["width"] = "16" })).Program!;
        var (model, train) = (program.Models[0], program.Trains[0]);
        int correct;
        long count;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            using var data = DataSources.Load(train.Data, train.Seed);
            var x = data.Test[train.FieldOf("x")].to(ScalarType.Float32);
            var labels = data.Test[train.Loss.Target];
            using var trained = SymDsl.Torch.Diagnostics.RunComparison.Load(model, run, train);
            var predicted = trained.Forward(new Dictionary<string, Tensor> { ["x"] = x.to(ScalarType.Float64) })["logits"].argmax(-1);
            correct = (int)predicted.eq(labels).sum().item<long>();
            count = labels.shape[0];
            PyTorchPickler.PickleStateDict(Path.Combine(outDir, "case.pt"), new Dictionary<string, Tensor> { ["input.x"] = x, ["labels"] = labels });
        }
        var result = Assert.Single(PythonTorch.CheckTwins([outDir]));
        Assert.False(result.TryGetProperty("error", out var error), error.ToString());
        Assert.Equal(count, result.GetProperty("count").GetInt64());
        Assert.Equal(correct, result.GetProperty("correct").GetInt32());
        // The same accuracy as the run's own summary.
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json"))).RootElement;
        Assert.Equal(summary.GetProperty("test_accuracy").GetDouble(), (double)correct / count, 9);
        Assert.True(correct > count / 2, $"the MLP learned little: {correct}/{count}");
    }

    [Fact]
    public void Symmetries_json_lists_each_symmetry_with_its_actions_and_the_permutations_in_rebasin_form()
    {
        string run = Symc.TempDir(), outDir = Path.Combine(Symc.TempDir(), "twin");
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", run, "--steps", "2", "--set", "width=8");
        Assert.True(r.ExitCode == 0, r.All);
        r = Symc.Run("export", run, "--to", "pytorch", "--out", outDir);
        Assert.True(r.ExitCode == 0, r.All);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "symmetries.json"))).RootElement;
        var perm = json.GetProperty("symmetries").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "perm");
        Assert.Equal("permutation", perm.GetProperty("kind").GetString());
        Assert.Equal("h", perm.GetProperty("site").GetString());
        Assert.Equal(8, perm.GetProperty("dim").GetInt32());
        var actions = perm.GetProperty("actions").EnumerateArray().Select(a => $"{a.GetProperty("parameter").GetString()}:{a.GetProperty("axis").GetInt32()}:{a.GetProperty("inverse").GetBoolean()}").ToList();
        Assert.Equal(["fc1.weight:0:False", "fc1.bias:0:False", "fc2.weight:1:True"], actions);
        var scale = json.GetProperty("symmetries").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "scale");
        Assert.Equal("rescale", scale.GetProperty("kind").GetString());

        var axesToPerm = json.GetProperty("permutation_spec").GetProperty("axes_to_perm");
        string[] Axes(string key) => axesToPerm.GetProperty(key).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? "null" : e.GetString()!).ToArray();
        Assert.Equal(["perm", "null"], Axes("fc1.weight"));
        Assert.Equal(["perm"], Axes("fc1.bias"));
        Assert.Equal(["null", "perm"], Axes("fc2.weight"));
        Assert.Equal(["null"], Axes("fc2.bias"));
        Assert.Equal(4, axesToPerm.EnumerateObject().Count());
    }

    [Fact]
    public void The_twin_mirrors_blocks_attention_and_the_ODE_RNN_as_modules_with_weights_dat_keys()
    {
        var program = Compiler.CompileFile(Path.Combine(Paths.Root, "examples", "byte-gpt", "byte_gpt.sym")).Program!;
        var model = program.Models.Single(m => m.Name == "ByteGpt");
        var source = SymDsl.Emit.PythonEmitter.Emit(model);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(source, @"^class SelfAttention\(nn\.Module\):", System.Text.RegularExpressions.RegexOptions.Multiline));
        Assert.Contains("class ByteGpt(nn.Module):", source);
        foreach (var b in model.Blocks)
            Assert.Contains($"self.{SymDsl.Semantics.Names.Sanitize(b.Instance)} = ", source);

        var rnn = Compiler.CompileFile(Path.Combine(Paths.Root, "examples", "ode-rnn", "ode_rnn.sym")).Program!.Models[0];
        var rnnSource = SymDsl.Emit.PythonEmitter.Emit(rnn);
        Assert.Contains("class OdeRnn(nn.Module):", rnnSource);
        Assert.Contains("integrator=\"rk4\"", rnnSource);
    }

    [Fact]
    public void Export_errors_are_one_line_with_the_right_exit_code()
    {
        var missing = Path.Combine(Symc.TempDir(), "nope");
        var r = Symc.Run("export", missing, "--to", "pytorch", "--out", Symc.TempDir());
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Err);
        Symc.AssertNoStackTrace(r);

        r = Symc.Run("export", Symc.TempDir(), "--to", "onnx", "--out", Symc.TempDir());
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("onnx", r.Err);

        r = Symc.Run("export", Symc.TempDir(), "--out", Symc.TempDir());
        Assert.Equal(2, r.ExitCode);

        string run = Symc.TempDir();
        Assert.Equal(0, Symc.Run("train", Paths.Example("mlp.sym"), "--out", run, "--steps", "1", "--set", "width=4").ExitCode);
        var file = Path.Combine(Symc.TempDir(), "a-file");
        File.WriteAllText(file, "");
        r = Symc.Run("export", run, "--to", "pytorch", "--out", Path.Combine(file, "sub"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("cannot write", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
        Symc.AssertNoStackTrace(r);
    }

    static Dictionary<string, Tensor> RandomInputs(ModelIR model)
    {
        using var gen = new Generator(12);
        var vocab = model.Layers.Select(l => SymDsl.Vocabulary.LayerDefinition.Of(l.Kind).TokenVocabulary(l)).OfType<long>().DefaultIfEmpty(2).Min();
        return model.Inputs.ToDictionary(i => i.Name, i =>
        {
            long[] shape = [3, .. i.Shape.Select(d => (long)d)];
            return i.Type == ElementType.Int64 ? randint(0, vocab, shape, dtype: ScalarType.Int64, generator: gen) : randn(shape, generator: gen);
        });
    }
}
