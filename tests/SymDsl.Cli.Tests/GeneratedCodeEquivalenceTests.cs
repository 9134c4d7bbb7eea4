using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Torch.Lowering;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary>
/// The generated C# module (symc build) and the lowered module (symc train) are two back ends of one IR: compiled with
/// Roslyn and given the same parameters, the generated module must compute the same outputs as the lowered one.
/// </summary>
public class GeneratedCodeEquivalenceTests
{
    public static TheoryData<string> Sources()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Paths.Root, "examples"), "*.sym").Order())
            data.Add(Path.GetRelativePath(Paths.Root, f));
        foreach (var dir in Directory.GetDirectories(Path.Combine(Paths.Root, "tests", "SymDsl.Core.Tests", "Baselines")).Order())
            if (!Path.GetFileName(dir).StartsWith("Invalid", StringComparison.Ordinal))
                data.Add(Path.GetRelativePath(Paths.Root, Path.Combine(dir, "main.sym")));
        return data;
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Generated_module_matches_the_lowered_module(string relativePath)
    {
        var compilation = Compiler.CompileFile(Path.Combine(Paths.Root, relativePath));
        Assert.False(compilation.HasErrors, string.Join("\n", compilation.Diagnostics));
        foreach (var model in compilation.Program!.Models)
            AssertEquivalent(model);
    }

    [Fact]
    public void Trained_weights_load_into_the_generated_module()
    {
        // examples/mlp.sym trains with syre: the checkpoint holds θ and θ₀, weights.dat the effective θ + θ₀.
        string dir = Symc.TempDir();
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", dir, "--steps", "15", "--set", "width=12");
        Assert.True(r.ExitCode == 0, r.All);
        var compilation = Compiler.CompileFile(Paths.Example("mlp.sym"), new CompileOptions(new Dictionary<string, string> { ["width"] = "12" }));
        var program = compilation.Program!;
        var model = program.Models[0];

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var trained = SymDsl.Torch.Diagnostics.RunComparison.Load(model, dir, program.Trains[0]);
        var generated = Instantiate(model);
        generated.load(Path.Combine(dir, "weights.dat"));
        generated.eval();

        var inputs = RandomInputs(model);
        var expected = trained.Forward(inputs.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64)))["logits"];
        var actual = RunGenerated(generated, model, inputs)["logits"];
        double diff = (expected - actual.to(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(diff < 1e-4, $"generated module with weights.dat differs from the trained model by {diff}");
    }

    [Fact]
    public void Trained_BatchNorm_weights_and_running_statistics_load_into_the_generated_module_in_both_modes()
    {
        // weights.dat holds the running statistics under nn.BatchNorm1d's keys (the load is strict); with dropout at p = 0,
        // the generated module in train() mode (batch statistics) matches the lowered model's verification mode, and in
        // eval() mode (running statistics) the trained model in evaluation mode.
        string sym = Path.Combine(Paths.Root, "tests", "SymDsl.Core.Tests", "Baselines", "BatchNormDropout", "main.sym");
        string dir = Symc.TempDir();
        var r = Symc.Run("train", sym, "--out", dir, "--steps", "15", "--set", "p=0.0");
        Assert.True(r.ExitCode == 0, r.All);
        var program = Compiler.CompileFile(sym, new CompileOptions(new Dictionary<string, string> { ["p"] = "0.0" })).Program!;
        var model = program.Models[0];

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var trained = SymDsl.Torch.Diagnostics.RunComparison.Load(model, dir, program.Trains[0]);
        Assert.False(trained.Buffer("bn.running_mean").eq(0).all().item<bool>(), "training moved the running mean");
        var generated = Instantiate(model);
        generated.load(Path.Combine(dir, "weights.dat"));
        var inputs = RandomInputs(model);
        var inputs64 = inputs.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64));

        generated.eval();
        var expected = trained.Forward(inputs64)["logits"];
        var diff = (expected - RunGenerated(generated, model, inputs)["logits"].to(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(diff < 1e-4, $"eval(): the generated module differs from the trained model by {diff}");

        generated.train();
        trained.SetMode(SymDsl.Torch.Lowering.Layers.ForwardMode.Verify);
        var batchStatistics = trained.Forward(inputs64)["logits"];
        diff = (batchStatistics - RunGenerated(generated, model, inputs)["logits"].to(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(diff < 1e-4, $"train(): the generated module differs from the lowered model with batch statistics by {diff}");
        Assert.True((batchStatistics - expected).abs().max().item<double>() > 1e-3, "the two modes differ");
    }

    static void AssertEquivalent(ModelIR model)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var lowered = new SymModel(model, seed: 11);
        lowered.eval();
        var generated = Instantiate(model);
        generated.eval();

        // Same parameters: the generated module's state_dict keys are the IR's, with layer names sanitised.
        // A block's layers are fields of its module (blk[1].fc1 → blk_1 → fc1): each part is sanitised.
        var keyToIr = model.Layers.SelectMany(l => l.Parameters.Select(p => (Key: string.Join(".", l.Name.Split('.').Select(Names.Sanitize)) + p.Name[l.Name.Length..], Ir: p.Name)))
            .ToDictionary(k => k.Key, k => k.Ir);
        var generatedParameters = generated.named_parameters().ToList();
        Assert.Equal(model.Parameters.Count(), generatedParameters.Count);
        foreach (var (key, parameter) in generatedParameters)
        {
            Assert.True(keyToIr.TryGetValue(key, out var irName), $"{model.Name}: generated parameter '{key}' has no IR parameter");
            parameter.copy_(lowered.EffectiveParameter(irName!));
        }

        var inputs = RandomInputs(model);
        var expected = lowered.Forward(inputs);
        var actual = RunGenerated(generated, model, inputs);
        foreach (var output in model.Outputs)
        {
            var e = expected[output.Name];
            var a = actual[output.Name];
            Assert.Equal(e.shape, a.shape);
            double diff = (e - a).abs().max().item<float>();
            double scale = Math.Max(1.0, e.abs().max().item<float>());
            Assert.True(diff <= 1e-5 * scale, $"{model.Name}.{output.Name}: generated and lowered outputs differ by {diff}");
        }
    }

    static Dictionary<string, Tensor> RandomInputs(ModelIR model)
    {
        using var gen = new Generator(12); // the test's own generator: other tests may use torch's global one at the same time
        var vocab = model.Layers.Where(l => l.Kind == LayerKind.Embedding).Select(l => l.Args["vocab"].AsInt()).DefaultIfEmpty(2).Min();
        return model.Inputs.ToDictionary(i => i.Name, i =>
        {
            long[] shape = [3, .. i.Shape.Select(d => (long)d)];
            return i.Type == ElementType.Int64 ? randint(0, vocab, shape, dtype: ScalarType.Int64, generator: gen) : randn(shape, generator: gen);
        });
    }

    static Dictionary<string, Tensor> RunGenerated(nn.Module module, ModelIR model, Dictionary<string, Tensor> inputs)
    {
        var forward = module.GetType().GetMethod("forward", BindingFlags.Public | BindingFlags.Instance)!;
        bool single = forward.GetParameters()[0].ParameterType == typeof(Tensor);
        object argument = single ? inputs[model.Inputs[0].Name] : inputs;
        var result = forward.Invoke(module, [argument])!;
        return result is Tensor t ? new Dictionary<string, Tensor> { [model.Outputs[0].Name] = t } : new Dictionary<string, Tensor>((IDictionary<string, Tensor>)result);
    }

    static nn.Module Instantiate(ModelIR model)
    {
        string source = CSharpEmitter.Emit(model, "SymDsl.Generated.Equivalence");
        var references = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => !a.IsDynamic && !string.IsNullOrEmpty(a.Location))
            .Select(a => MetadataReference.CreateFromFile(a.Location));
        var csharp = CSharpCompilation.Create($"Gen_{model.Name}_{Guid.NewGuid():N}",
            [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emitted = csharp.Emit(image);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        image.Position = 0;
        var assembly = AssemblyLoadContext.Default.LoadFromStream(image);
        var type = assembly.GetTypes().Single(t => t.Name == CSharpEmitter.ClassName(model));
        var ctor = type.GetConstructors().Single();
        var args = ctor.GetParameters().Select(p => p.HasDefaultValue ? p.DefaultValue : throw new InvalidOperationException($"{type.Name}: constructor parameter {p.Name} has no default")).ToArray();
        return (nn.Module)ctor.Invoke(args);
    }
}
