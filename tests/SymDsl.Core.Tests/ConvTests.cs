using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Tests;

namespace SymDsl.Core.Tests;

/// <summary>
/// Conv1d/Conv2d, pooling and flatten of channels-first values (docs/language.md, "Convolutions and pooling"): their shapes,
/// their errors at the line that applies them, and what the calculus infers with the channels as the unit axis. The numbers
/// behind the verdicts are in the Torch tests (CalculusVerificationTests, ConvVerificationTests).
/// </summary>
public class ConvTests
{
    static Compilation Compile(string text) => Compiler.CompileText("t.sym", text);

    static string Model(string body) => $"model M {{\n{body}\n}}\n";

    static IReadOnlyList<int> ShapeOf(Compilation c, string site)
    {
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var model = c.Program!.Models[0];
        return model.Site(site)!.Shape;
    }

    [Fact]
    public void Conv_and_pooling_shapes_follow_pytorch()
    {
        var c = Compile(Model("""
            input x: [3, 11, 9]
            layer c = Conv2d(3, 5, 3, stride = 2, padding = 1)
            layer d = Conv1d(2, 4, 5)
            input s: [2, 10]
            h = c(x)
            m = max_pool(h, 2)
            a = avg_pool(m, k = 2)
            g = global_avg_pool(h)
            f = flatten(h)
            t = d(s)
            q = max_pool(t, 4)
            output y = g
            output z = flatten(q)
            """));
        Assert.Equal([5, 6, 5], ShapeOf(c, "h"));     // ⌊(11 + 2 − 3) / 2⌋ + 1, ⌊(9 + 2 − 3) / 2⌋ + 1
        Assert.Equal([5, 3, 2], ShapeOf(c, "m"));     // floor, as PyTorch's default
        Assert.Equal([5, 1, 1], ShapeOf(c, "a"));
        Assert.Equal([5], ShapeOf(c, "g"));
        Assert.Equal([150], ShapeOf(c, "f"));
        Assert.Equal([4, 6], ShapeOf(c, "t"));
        Assert.Equal([4, 1], ShapeOf(c, "q"));
        var layer = c.Program!.Models[0].Layer("c");
        Assert.Equal([("c.weight", (IReadOnlyList<int>)[5, 3, 3, 3]), ("c.bias", [5])], layer.Parameters.Select(p => (p.Name, p.Shape)).ToList(),
            new ParameterComparer());
        Assert.Equal([4, 2, 5], c.Program.Models[0].Layer("d").Parameter("weight").Shape);
    }

    sealed class ParameterComparer : IEqualityComparer<(string, IReadOnlyList<int>)>
    {
        public bool Equals((string, IReadOnlyList<int>) a, (string, IReadOnlyList<int>) b) => a.Item1 == b.Item1 && a.Item2.SequenceEqual(b.Item2);
        public int GetHashCode((string, IReadOnlyList<int>) a) => a.Item1.GetHashCode();
    }

    [Theory]
    [InlineData("input x: [2, 8, 8]\n layer c = Conv2d(3, 4, 3)\n output y = c(x)", "SYM0301", 4, 13,
        "Conv2d 'c' expects first dimension 3 (in: its channels), but its input has shape [2, 8, 8]")]
    [InlineData("input x: [3, 4, 8]\n layer c = Conv2d(3, 4, 5, padding = 0)\n output y = c(x)", "SYM0221", 4, 13,
        "Conv2d 'c': its kernel 5 is larger than the input's padded height 4 + 2·0 = 4 (shape [3, 4, 8])")]
    [InlineData("input x: [3, 4]\n layer c = Conv1d(3, 4, 7, padding = 1)\n output y = c(x)", "SYM0221", 4, 13,
        "Conv1d 'c': its kernel 7 is larger than the input's padded length 4 + 2·1 = 6 (shape [3, 4])")]
    [InlineData("input x: [3, 8]\n layer c = Conv2d(3, 4, 3)\n output y = c(x)", "SYM0305", 4, 13,
        "Conv2d 'c' expects [C, H, W] (channels first), but got shape [3, 8]")]
    [InlineData("input x: [3, 8, 5]\n output y = max_pool(x, 6)", "SYM0221", 3, 13,
        "max_pool: its window k = 6 is larger than the input's width 5 (shape [3, 8, 5])")]
    [InlineData("input x: [8]\n output y = avg_pool(x, 2)", "SYM0305", 3, 13,
        "avg_pool expects [C, L] or [C, H, W] (channels first), but got shape [8]")]
    [InlineData("input x: [8]\n output y = global_avg_pool(x)", "SYM0305", 3, 13,
        "global_avg_pool expects [C, …] with positions after the channels, but got shape [8]")]
    [InlineData("input x: [2, 8]\n output y = max_pool(x)", "SYM0211", 3, 13, null)]
    [InlineData("input x: [2, 8]\n output y = max_pool(x, 0)", "SYM0303", 3, 25, null)]
    [InlineData("input x: [2, 8, 8]\n layer c = Conv2d(2, 4, 3, stride = 0)\n output y = c(x)", "SYM0211", 3, 37, null)]
    public void Bad_conv_and_pooling_uses_are_errors_at_their_line(string body, string code, int line, int column, string? message)
    {
        var c = Compile(Model(body));
        var d = Assert.Single(c.Diagnostics, d => d.Level == DiagnosticLevel.Error);
        Assert.Equal(code, d.Code);
        Assert.Equal((line, column), (d.Span.Line, d.Span.Column));
        if (message is not null) Assert.Equal(message, d.Message);
    }

    [Fact]
    public void Residual_conv_channels_permute_and_rescale_through_relu_the_add_and_pooling()
    {
        var model = Compile(CalculusModels.ConvResidual).Program!.Models[0];
        var rp = model.Symmetries.Single(s => s.Name == "rp");
        Assert.Equal(4, rp.Dim);
        // c1's and c2's output channels and c3's input channels: one space through relu, + and max_pool.
        Assert.Equal(
            [("c1.bias", 0, ActionRole.Forward), ("c1.weight", 0, ActionRole.Forward), ("c2.bias", 0, ActionRole.Forward),
             ("c2.weight", 0, ActionRole.Forward), ("c2.weight", 1, ActionRole.Inverse), ("c3.weight", 1, ActionRole.Inverse)],
            rp.Actions.Select(a => (a.Parameter, a.Axis, a.Role)).Order().ToList());
        Assert.All(rp.Actions, a => Assert.Equal(1, a.Unit));
        var us = model.Symmetries.Single(s => s.Name == "us");
        Assert.Equal(
            [("c3.bias", 0, ActionRole.Forward), ("c3.weight", 0, ActionRole.Forward), ("head.weight", 1, ActionRole.Inverse)],
            us.Actions.Select(a => (a.Parameter, a.Axis, a.Role)).Order().ToList());
    }

    [Fact]
    public void Flatten_of_channels_tiles_the_channel_action_on_the_next_linear()
    {
        var model = Compile(CalculusModels.ConvFlatten).Program!.Models[0];
        var p2 = model.Symmetries.Single(s => s.Name == "p2");
        Assert.Equal(4, p2.Dim);
        var fc = Assert.Single(p2.Actions, a => a.Parameter == "fc.weight");
        Assert.Equal((1, ActionRole.Inverse, 4), (fc.Axis, fc.Role, fc.Unit)); // h2 is [4, 2, 2]: 2·2 entries per channel
        Assert.All(p2.Actions.Where(a => a.Parameter != "fc.weight"), a => Assert.Equal(1, a.Unit));
        // The flattened site does not name the channel group.
        Assert.DoesNotContain(new SymmetryInference(model, LossBinding.None).Candidates(), c => c.Target == "f");
    }

    [Fact]
    public void Max_pool_breaks_sign_and_rotation_and_avg_pool_does_not()
    {
        var sign = Compile(CalculusModels.Conv1dPools + "\nmodel S {\n input x: [3, 12]\n layer c = Conv1d(3, 4, 3)\n layer d = Conv1d(4, 2, 1)\n h = c(x)\n output y = d(max_pool(h, 2))\n symmetry f : sign(h)\n symmetry r : rotation(h)\n}\n");
        Assert.Contains(sign.Diagnostics, d => d.Code == "SYM0402" && d.Message.StartsWith("sign(h) does not hold") && d.Message.Contains("max_pool(...) (line 18:15) is not odd"));
        Assert.Contains(sign.Diagnostics, d => d.Code == "SYM0402" && d.Message.StartsWith("rotation(h) does not hold") && d.Message.Contains("max_pool(...)"));
        var ok = Compile(CalculusModels.Conv1dPools);
        Assert.False(ok.HasErrors, string.Join("\n", ok.Diagnostics));
        Assert.True(ok.Program!.Models[0].Symmetries.Single(s => s.Name == "ar").Inferred);
    }

    [Fact]
    public void A_linear_over_the_positions_of_channels_cannot_prove_the_channel_group()
    {
        // fc acts on the last axis of [C, L]: the channel group is neither proven nor refuted, and fc's input columns (positions
        // made by the convolution) are not a space either; nothing is wrongly claimed.
        var c = Compile(Model("""
            input x: [2, 10]
            layer c = Conv1d(2, 3, 3)
            layer fc = Linear(8, 4)
            h = relu(c(x))
            z = fc(h)
            output y = global_avg_pool(z)
            symmetry p : permutation(h)
            """));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var w = Assert.Single(c.Diagnostics, d => d.Code == "SYM0406");
        Assert.Contains("cannot prove permutation(h)", w.Message);
        Assert.Contains("Linear 'fc'", w.Message);
        var model = c.Program!.Models[0];
        var candidates = new SymmetryInference(model, LossBinding.None).Candidates();
        Assert.DoesNotContain(candidates, x => x.Verdict == Verdict.Holds && x.Actions.Any(a => a.Parameter == "fc.weight" && a.Axis == 1));
    }

    [Fact]
    public void Translation_reaches_a_cross_entropy_through_conv_pooling_and_flatten()
    {
        var c = Compile(CalculusModels.ConvResidual.Replace("Linear(6, 3)", "Linear(6, 10)").TrimEnd().TrimEnd('}') + "    symmetry t : translation(logits)\n}\n"
            + "train ConvRes { data digits() loss cross_entropy(logits, label) optimizer sgd epochs 1 }\n");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Contains(c.Program!.Trains[0].Symmetries, s => s.Name == "t" && s.Kind == SymmetryKind.Translation);
        // A conv's own shift passes max_pool and global_avg_pool, but a Linear's weights mix it: not proven.
        var mid = Compile(Model("""
            input x: [1, 8, 8]
            layer c = Conv2d(1, 4, 3)
            layer head = Linear(4, 10)
            m = max_pool(c(x), 2)
            g = global_avg_pool(m)
            output logits = head(g)
            symmetry t : translation(m)
            """) + "train M { data digits() loss cross_entropy(logits, label) optimizer sgd epochs 1 }\n");
        Assert.False(mid.HasErrors, string.Join("\n", mid.Diagnostics));
        Assert.Contains(mid.Diagnostics, d => d.Code == "SYM0406" && d.Message.Contains("translation(m)") && d.Message.Contains("Linear 'head'"));
    }

    [Fact]
    public void An_unknown_layer_kind_lists_the_known_kinds_from_their_definitions()
    {
        var c = Compile(Model("input x: [3]\n layer l = Conv3d(3, 4, 1)\n output y = l(x)"));
        var d = Assert.Single(c.Diagnostics, d => d.Code == "SYM0209");
        Assert.Contains("did you mean 'Conv1d'", d.Message);
        foreach (var def in Vocabulary.LayerDefinition.All) Assert.Contains(def.Name, d.Message);
    }
}
