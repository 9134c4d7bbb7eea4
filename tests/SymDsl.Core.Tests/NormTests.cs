using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Tests;

namespace SymDsl.Core.Tests;

/// <summary>
/// BatchNorm(n) and dropout(h, p) in the front end (issue 11): arguments, shapes and their errors at line:col, and the
/// symmetries the calculus infers around them. Their numbers are checked in SymDsl.Torch.Tests (NormTests,
/// CalculusVerificationTests).
/// </summary>
public class NormTests
{
    static Compilation Compile(string text) => Compiler.CompileText("t.sym", text);

    static string Model(string body) => "model M {\n    input x: [5]\n    layer fc = Linear(5, 4)\n" + body + "\n}\n";

    static Diagnostic Error(Compilation c) => Assert.Single(c.Diagnostics, d => d.Level == DiagnosticLevel.Error);

    [Fact]
    public void BatchNorm_takes_its_arguments_with_defaults_and_keeps_the_shape()
    {
        var c = Compile(Model("    layer bn = BatchNorm(4)\n    output y = bn(fc(x))"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var model = c.Program!.Models[0];
        var bn = model.Layer("bn");
        Assert.Equal("BatchNorm", bn.Kind.Name);
        Assert.Equal(1e-5, bn.Args["eps"].AsDouble());
        Assert.Equal(0.1, bn.Args["momentum"].AsDouble());
        Assert.True(bn.Args["affine"].AsBool());
        Assert.Equal(["bn.weight", "bn.bias"], bn.Parameters.Select(p => p.Name));
        Assert.Equal([4], model.Node(model.Outputs[0].Node).Shape);

        var plain = Compile(Model("    layer bn = BatchNorm(4, eps = 0.001, momentum = 0.5, affine = false)\n    output y = bn(fc(x))")).Program!.Models[0];
        Assert.Empty(plain.Layer("bn").Parameters);
    }

    [Theory]
    [InlineData("    layer bn = BatchNorm(3)\n    output y = bn(fc(x))", "SYM0301", "bn(fc(x))", "first dimension 3")]
    [InlineData("    input s: [2, 4, 3, 3]\n    layer bn = BatchNorm(2)\n    output y = bn(s)", "SYM0305", "bn(s)", "[C], [C, L] or [C, H, W]")]
    [InlineData("    input s: [2, 4]\n    layer bn = BatchNorm(4)\n    output y = bn(s)", "SYM0301", "bn(s)", "first dimension 4")]
    [InlineData("    layer bn = BatchNorm(4, momentum = 1.5)\n    output y = bn(fc(x))", "SYM0211", "1.5", "momentum")]
    [InlineData("    layer bn = BatchNorm(4, eps = -1.0)\n    output y = bn(fc(x))", "SYM0211", "-1.0", "eps")]
    [InlineData("    layer bn = BatchNorm(0)\n    output y = bn(fc(x))", "SYM0303", "0)", "")]
    [InlineData("    output y = dropout(fc(x), 1.0)", "SYM0211", "1.0", "in [0, 1)")]
    [InlineData("    output y = dropout(fc(x), p = -0.5)", "SYM0211", "-0.5", "in [0, 1)")]
    [InlineData("    output y = dropout(fc(x))", "SYM0211", "dropout", "needs the argument 'p'")]
    [InlineData("    output y = dropout(fc(x), 0.5, 2.0)", "SYM0211", "2.0", "")]
    public void Bad_uses_are_one_error_at_their_line_and_column(string body, string code, string at, string text)
    {
        var source = Model(body);
        var d = Error(Compile(source));
        Assert.Equal(code, d.Code);
        var index = source.IndexOf(at, StringComparison.Ordinal);
        var line = source[..index].Count(ch => ch == '\n') + 1;
        var column = index - source.LastIndexOf('\n', index - 1);
        Assert.Equal((line, column), (d.Span.Line, d.Span.Column));
        Assert.Contains(text, d.Message);
    }

    [Fact]
    public void Dropout_takes_p_positionally_or_by_name()
    {
        foreach (var call in new[] { "dropout(h, 0.3)", "dropout(h, p = 0.3)" })
        {
            var c = Compile(Model($"    h = relu(fc(x))\n    output y = {call}"));
            Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
            var node = c.Program!.Models[0].Nodes.Single(n => n.Op == OpKind.Activation && n.Attr("fn") == "dropout");
            Assert.Equal(0.3, node.Attrs["p"].AsDouble());
        }
    }

    [Fact]
    public void Around_a_BatchNorm_the_map_before_it_absorbs_scale_rescale_sign_and_translation()
    {
        var c = Compile(CalculusModels.BatchNormMlp);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var model = c.Program!.Models[0];
        SymmetryIR Sym(string name) => model.Symmetries.Single(s => s.Name == name);
        Assert.All(model.Symmetries.Where(s => s.Declared), s => Assert.True(s.Inferred, s.Name));

        // scale(z), z = fc1(x) feeding the BatchNorm: fc1 scales, the BatchNorm absorbs (approximately: eps > 0).
        var scale = Sym("zc");
        Assert.False(scale.Exact);
        Assert.Equal([("fc1.weight", -1, ActionRole.Forward), ("fc1.bias", -1, ActionRole.Forward)], scale.Actions.Select(a => (a.Parameter, a.Axis, a.Role)));
        Assert.Equal([("bn.running_mean", -1, ActionRole.Forward), ("bn.running_var", -1, ActionRole.Forward), ("bn.running_var", -1, ActionRole.Forward)],
            scale.BufferActions.Select(a => (a.Parameter, a.Axis, a.Role)));
        Assert.False(Sym("zr").Exact);
        // A sign flip of the BatchNorm's input is undone by flipping γ: exact.
        var sign = Sym("zs");
        Assert.True(sign.Exact);
        Assert.Contains(sign.Actions, a => a is { Parameter: "bn.weight", Role: ActionRole.Inverse });
        Assert.Equal(["bn.running_mean"], sign.BufferActions.Select(a => a.Parameter));
        // The bias shift of fc1 is absorbed by the batch mean; the running mean shifts with it.
        var shift = Sym("zt");
        Assert.Equal([("fc1.bias", ActionRole.Shift)], shift.Actions.Select(a => (a.Parameter, a.Role)));
        Assert.Equal([("bn.running_mean", ActionRole.Shift)], shift.BufferActions.Select(a => (a.Parameter, a.Role)));
        // One permutation through the BatchNorm and dropout: γ, β and the running statistics move with the channels.
        var perm = Sym("up");
        Assert.Contains(perm.Actions, a => a.Parameter == "bn.weight");
        Assert.Contains(perm.Actions, a => a.Parameter == "fc2.weight");
        Assert.Equal(["bn.running_mean", "bn.running_var"], perm.BufferActions.Select(a => a.Parameter));
        // The output's rescale is carried by γ and β.
        Assert.Contains(Sym("ur").Actions, a => a is { Parameter: "bn.bias", Role: ActionRole.Forward });
        Assert.Empty(Sym("ur").BufferActions);
    }

    [Theory]
    [InlineData("symmetry bad : rotation(z)", "BatchNorm 'bn' (line 4:5) normalises each channel on its own")]
    [InlineData("symmetry bad : rotation(n)", "BatchNorm 'bn' (line 4:5) has a diagonal gain")]
    [InlineData("symmetry bad : sign(u)", "relu(...)")]
    [InlineData("symmetry bad : rotation(u)", "does not hold")]
    public void False_symmetries_around_a_BatchNorm_are_errors_at_their_line(string declaration, string text)
    {
        var c = Compile(CalculusModels.BatchNormMlp.TrimEnd().TrimEnd('}') + "    " + declaration + "\n}\n");
        var d = Assert.Single(c.Diagnostics, d => d.Level == DiagnosticLevel.Error);
        Assert.Equal("SYM0402", d.Code);
        Assert.Contains(text, d.Message);
    }

    [Fact]
    public void Dropout_blocks_rotation_and_translation_and_a_BatchNorm_without_affine_cannot_undo_a_sign()
    {
        var rot = Compile(Model("    h = fc(x)\n    layer g = Linear(4, 2)\n    u = dropout(h, 0.5)\n    output y = g(u)\n    symmetry r : rotation(h)"));
        Assert.Contains("random mask", Error(rot).Message);
        var plain = Compile(Model("    layer bn = BatchNorm(4, affine = false)\n    layer g = Linear(4, 2)\n    z = fc(x)\n    output y = g(bn(z))\n    symmetry s : sign(z)"));
        Assert.Contains("no gain (affine = false)", Error(plain).Message);
    }
}
