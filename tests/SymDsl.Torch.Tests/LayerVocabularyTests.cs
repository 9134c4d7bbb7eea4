using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Lowering.Layers;
using SymDsl.Vocabulary;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// One definition per layer kind (SymDsl.Core/Vocabulary/Layers) and one runtime module (Lowering/Layers), and the two
/// agree: every parameter the definition declares is read by the runtime, and the runtime's output has the shape the
/// definition's shape rule gives. A new layer kind adds a sample model below (docs/language.md, "Adding a layer kind").
/// </summary>
[Collection("torch")]
public class LayerVocabularyTests
{
    /// <summary>Per kind, a small model that applies a layer "l" of that kind to an input "x" (site "y" is its output).</summary>
    static readonly Dictionary<LayerKind, string> Samples = new()
    {
        [LayerKind.Linear] = "input x: [3]\n layer l = Linear(3, 4)\n output y = l(x)",
        [LayerKind.LayerNorm] = "input x: [2, 5]\n layer l = LayerNorm(5)\n output y = l(x)",
        [LayerKind.Embedding] = "input x: int [6]\n layer l = Embedding(7, 3)\n output y = l(x)",
        [LayerKind.SelfAttention] = "input x: [5, 4]\n layer l = SelfAttention(4, 2, causal = true)\n output y = l(x)",
        [LayerKind.RNN] = "input x: [5, 3]\n layer l = RNN(3, 4, integrator = rk2, dt = 0.5)\n output y = l(x)",
        [Vocabulary.Layers.Conv1d.Conv1dKind] = "input x: [3, 9]\n layer l = Conv1d(3, 4, 3, stride = 2, padding = 1)\n output y = l(x)",
        [Vocabulary.Layers.Conv2d.Conv2dKind] = "input x: [2, 7, 6]\n layer l = Conv2d(2, 3, 3, stride = 2, padding = 1)\n output y = l(x)",
        [Vocabulary.Layers.BatchNorm.Id] = "input x: [3]\n layer l = BatchNorm(3, momentum = 0.2)\n output y = l(x)",
    };

    public static TheoryData<string> Kinds() => [.. LayerDefinition.All.Select(d => d.Name)];

    [Fact]
    public void Every_layer_kind_has_exactly_one_definition_and_one_runtime_module()
    {
        // The kinds are the definitions: a test sample and a runtime module for each.
        var kinds = LayerDefinition.All.Select(d => d.Kind).ToArray();
        Assert.Equal(kinds.Length, kinds.Distinct().Count());
        Assert.Equal(kinds, LayerRuntime.All.Select(r => r.Kind));
        foreach (var kind in kinds)
        {
            Assert.Equal(kind, LayerDefinition.Of(kind).Kind);
            Assert.Equal(kind, LayerRuntime.Of(kind).Kind);
            Assert.Same(LayerDefinition.Of(kind), LayerDefinition.Find(kind.ToString()));
            Assert.True(Samples.ContainsKey(kind), $"add a sample model for {kind} to {nameof(LayerVocabularyTests)}");
        }
        Assert.Null(LayerDefinition.Find("linear")); // kinds are spelled exactly
    }

    [Fact]
    public void Every_function_has_one_lowering_and_one_csharp_emission_that_agree_on_its_arguments()
    {
        Assert.Equal(Vocabulary.Functions.Names.Order(), SymDsl.Torch.Lowering.FunctionRuntimes.Implemented.Order());
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new double[] { -1.5, 0.0, 2.0 }).reshape(1, 3);
        foreach (var f in Vocabulary.Functions.All.Where(f => f.Shape is null))
        {
            // Required arguments (dropout's p) get a value in their range.
            var args = f.Arguments.ToDictionary(a => a.Name, a => a.Default ?? new Value.Float(0.5));
            var y = SymDsl.Torch.Lowering.FunctionRuntimes.Bind(f.Name, args)(x);
            Assert.Equal(x.shape, y.shape);
            var code = f.CSharp("x", args);
            Assert.Contains("x", code);
        }
        // Functions with a shape rule (pooling): applied in a model to [C, L] and [C, H, W], the lowering gives the rule's shape.
        foreach (var f in Vocabulary.Functions.All.Where(f => f.Shape is not null))
            foreach (var shape in new[] { "[2, 9]", "[2, 5, 7]" })
            {
                var args = f.Arguments.Count == 0 ? "" : ", 2";
                var c = Compiler.CompileText("f.sym", $"model M {{\n input x: {shape}\n output y = {f.Name}(x{args})\n}}");
                Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
                var model = c.Program!.Models[0];
                var node = model.Node(model.Outputs[0].Node);
                using var m = new SymModel(model, seed: 1);
                long[] inShape = [2, .. model.Inputs[0].Shape.Select(d => (long)d)];
                var y = m.Forward(new Dictionary<string, Tensor> { ["x"] = randn(inShape) })["y"];
                Assert.Equal([2, .. node.Shape.Select(d => (long)d)], y.shape);
                Assert.Contains("x", f.CSharp("x", node.Attrs));
            }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Definition_and_runtime_agree_on_parameters_and_shape(string name)
    {
        var kind = LayerDefinition.Find(name)!.Kind;
        var c = Compiler.CompileText("sample.sym", $"model M {{\n {Samples[kind]}\n}}");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var model = c.Program!.Models[0];
        var layer = Assert.Single(model.Layers);
        Assert.Equal(kind, layer.Kind);
        Assert.NotEmpty(layer.Parameters);

        // The runtime reads every parameter the definition declares.
        var read = new HashSet<string>();
        LayerRuntime.Of(kind).Bind(layer, local => { read.Add($"{layer.Name}.{local}"); return new NoSlot(); });
        Assert.Subset(read, layer.Parameters.Select(p => p.Name).ToHashSet());

        // Its forward gives the shape of the definition's shape rule, for a batch of 2.
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, seed: 1);
        var input = model.Inputs[0];
        long[] shape = [2, .. input.Shape.Select(d => (long)d)];
        var x = input.Type == ElementType.Int64 ? randint(0, 7, shape, ScalarType.Int64) : randn(shape);
        var y = m.Forward(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        long[] expected = [2, .. model.Node(model.Outputs[0].Node).Shape.Select(d => (long)d)];
        Assert.Equal(expected, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
    }

    [Fact]
    public void Default_initialisation_is_the_kind_s_own_and_drawn_from_the_run_s_generator()
    {
        var c = Compiler.CompileText("ln.sym", "model M {\n input x: [4]\n layer l = LayerNorm(4)\n layer e = Linear(4, 100)\n output y = e(l(x))\n}");
        var model = c.Program!.Models[0];
        using var scope = NewDisposeScope();
        using var a = new SymModel(model, seed: 5);
        using var b = new SymModel(model, seed: 5);
        var pa = a.EffectiveParameters();
        var pb = b.EffectiveParameters();
        Assert.True(pa["l.weight"].eq(1).all().item<bool>());
        Assert.True(pa["l.bias"].eq(0).all().item<bool>());
        Assert.True(pa["e.weight"].abs().max().item<float>() <= 0.5f); // U(±1/√4)
        Assert.True(pa["e.weight"].eq(pb["e.weight"]).all().item<bool>());
    }

    sealed class NoSlot : IParameterSlot
    {
        public Tensor Required() => throw new InvalidOperationException();
        public Tensor? Optional() => null;
    }
}
