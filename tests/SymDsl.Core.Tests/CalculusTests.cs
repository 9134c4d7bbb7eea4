using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Tests;

namespace SymDsl.Core.Tests;

/// <summary>
/// The symmetry calculus on models off the σ(Linear(x)) pattern (docs/language.md, "The symmetry calculus"): true symmetries
/// are accepted with their exact parameter action, false ones are errors naming the op that breaks them, and symmetries
/// that depend on the loss are decided per train block. The numbers behind the verdicts are in the Torch tests
/// (CalculusVerificationTests) and the property tests.
/// </summary>
public class CalculusTests
{
    static Compilation Compile(string text) => Compiler.CompileText("t.sym", text);

    static void NoErrors(Compilation c)
        => Assert.True(!c.HasErrors, string.Join("\n", c.Diagnostics.Where(d => d.Level == DiagnosticLevel.Error)));

    static Diagnostic ErrorAt(Compilation c, string symmetry)
        => Assert.Single(c.Diagnostics, d => d.Level == DiagnosticLevel.Error && d.Message.StartsWith(symmetry + " does not hold"));

    static string With(string model, string extra) => model.TrimEnd().TrimEnd('}') + extra + "\n}\n";

    [Theory]
    [MemberData(nameof(Models))]
    public void The_declared_symmetries_of_each_model_hold(string name)
    {
        var c = Compile(CalculusModels.All.Single(m => m.Name == name).Text);
        NoErrors(c);
        var model = c.Program!.Models[0];
        Assert.All(model.Symmetries.Where(s => s.Declared), s => Assert.True(s.Inferred, $"{s.Name} was not proven"));
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0406");
    }

    public static TheoryData<string> Models() => new(CalculusModels.All.Select(m => m.Name));

    [Fact]
    public void Pre_norm_residual_stream_permutes_through_the_layer_norm()
    {
        var model = Compile(CalculusModels.PreNormResidual).Program!.Models[0];
        var stream = model.Symmetries.Single(s => s.Name == "stream");
        Assert.Equal(6, stream.Dim);
        Assert.Equal(
            [("emb.weight", 0, ActionRole.Forward), ("emb.bias", 0, ActionRole.Forward), ("ln.weight", 0, ActionRole.Forward),
             ("ln.bias", 0, ActionRole.Forward), ("fc1.weight", 1, ActionRole.Inverse), ("fc2.weight", 0, ActionRole.Forward),
             ("fc2.bias", 0, ActionRole.Forward), ("head.weight", 1, ActionRole.Inverse)],
            stream.Actions.Select(a => (a.Parameter, a.Axis, a.Role)).OrderBy(a => a.Parameter == "head.weight").ToList());
    }

    [Fact]
    public void Rescale_of_a_pre_norm_stream_is_broken_by_the_layer_norm_at_its_line()
    {
        var c = Compile(With(CalculusModels.PreNormResidual, "    symmetry bad : rescale(z0)"));
        var d = ErrorAt(c, "rescale(z0)");
        Assert.Contains("LayerNorm 'ln' (line 4:5)", d.Message);
        Assert.Contains("normalises over its units", d.Message);
    }

    [Fact]
    public void Rnn_units_rescale_is_broken_by_tanh_inside_the_cell()
    {
        var c = Compile(With(CalculusModels.Rnn, "    symmetry q : rescale(h)"));
        Assert.Contains("RNN 'r' (line 3:5) applies tanh inside its cell", ErrorAt(c, "rescale(h)").Message);
        var relu = Compile(With(CalculusModels.Rnn.Replace("RNN(3, 6)", "RNN(3, 6, activation = relu)").Replace("symmetry f : sign(h)", ""), "    symmetry q : rescale(h)"));
        NoErrors(relu);
        var q = relu.Program!.Models[0].Symmetries.Single(s => s.Name == "q");
        Assert.Contains(q.Actions, a => a is { Parameter: "r.hidden.weight", Axis: 0, Role: ActionRole.Forward });
        Assert.Contains(q.Actions, a => a is { Parameter: "r.hidden.weight", Axis: 1, Role: ActionRole.Inverse });
    }

    [Fact]
    public void A_stream_that_reaches_an_output_is_fixed_by_it()
    {
        var c = Compile(With(CalculusModels.StreamToOutput, "    symmetry zp : permutation(z)"));
        Assert.Contains("the output 'y'", ErrorAt(c, "permutation(z)").Message);
    }

    [Fact]
    public void Rotation_into_a_layer_norm_does_not_hold_and_scale_is_approximate()
    {
        var c = Compile(With(CalculusModels.RotationIntoLayerNorm, "    symmetry zr : rotation(z)"));
        Assert.Contains("LayerNorm 'ln'", ErrorAt(c, "rotation(z)").Message);
        var ok = Compile(CalculusModels.RotationIntoLayerNorm).Program!.Models[0];
        Assert.False(ok.Symmetries.Single(s => s.Name == "zs").Exact); // eps = 1e-5
        Assert.True(Compile(CalculusModels.RotationIntoLayerNorm.Replace("LayerNorm(5)", "LayerNorm(5, eps = 0.0)")).Program!.Models[0]
            .Symmetries.Single(s => s.Name == "zs").Exact);
    }

    [Fact]
    public void Alias_mean_and_a_consumer_applied_twice_keep_one_space()
    {
        var c = Compile("""
            model Twice {
                input x: [4, 3]
                layer a = Linear(3, 5)
                layer b = Linear(3, 5)
                layer v = Linear(5, 2)
                h = relu(a(x))
                g = relu(b(x))
                k = h
                m = mean(k)
                n = last(g)
                output y = v(m) + v(n)
                symmetry p : permutation(h)
                symmetry s : rescale(h)
            }
            """);
        NoErrors(c);
        // One space: h and g are both read by v, so one permutation acts on a, b and v together.
        var p = c.Program!.Models[0].Symmetries.Single(s => s.Name == "p");
        Assert.Equal(["a.bias", "a.weight", "b.bias", "b.weight", "v.weight"], p.Parameters.Order());
        Assert.DoesNotContain(c.Diagnostics, d => d.Message.Contains("permutation(g)")); // the same symmetry, not a second one
    }

    [Fact]
    public void Translation_is_decided_per_train_block()
    {
        const string model = """
            model Two {
                input x: [64]
                layer fc1 = Linear(64, 16)
                layer fc2 = Linear(16, 10)
                h = relu(fc1(x))
                output logits = fc2(h)
                symmetry p : permutation(h)
                symmetry t : translation(logits)
            }
            """;
        var ce = "train Two { data digits() loss cross_entropy(logits, label) optimizer sgd epochs 1 }\n";
        var mse = "train Two { data teacher(d_in = 64, d_out = 10) loss mse(logits, target) optimizer sgd epochs 1 }\n";

        var good = Compile(model + "\n" + ce);
        NoErrors(good);
        var block = Assert.Single(good.Program!.Trains);
        Assert.Contains(block.Symmetries, s => s.Name == "t" && s.Kind == SymmetryKind.Translation);

        var both = Compile(model + "\n" + ce + mse);
        var d = Assert.Single(both.Diagnostics, d => d.Code == "SYM0407");
        Assert.Equal((8, 5), (d.Span.Line, d.Span.Column));
        Assert.Contains("train block at line 11", d.Message);
        Assert.Contains("mse(logits, target), which is not shift-invariant", d.Message);

        var none = Compile(model);
        Assert.Contains(none.Diagnostics, d => d.Code == "SYM0406" && d.Message.Contains("no train block trains 'Two'"));
        Assert.DoesNotContain(none.Program!.Models[0].Symmetries, s => s.Name == "t");
    }

    [Fact]
    public void Sigmoid_sign_flip_cannot_be_proven_and_is_left_to_verification()
    {
        var c = Compile("""
            model Sig {
                input x: [4]
                layer a = Linear(4, 3)
                layer b = Linear(3, 2)
                h = sigmoid(a(x))
                output y = b(h)
                symmetry f : sign(h)
            }
            """);
        Assert.False(c.HasErrors);
        Assert.Contains(c.Diagnostics, d => d.Code == "SYM0406" && d.Message.Contains("sigmoid(...)"));
    }

    [Fact]
    public void Every_layer_kind_has_a_definition()
    {
        foreach (var definition in Vocabulary.LayerDefinition.All) Assert.Same(definition, Vocabulary.LayerDefinition.Of(definition.Kind));
    }

    [Fact]
    public void Candidates_name_the_space_by_its_last_site_and_list_all_its_sites()
    {
        var model = Compile(CalculusModels.Rnn).Program!.Models[0];
        var perm = new SymmetryInference(model, LossBinding.None).Candidates()
            .Single(c => c.Kind == SymmetryKind.Permutation && c.Sites.Contains("h"));
        Assert.Equal(["h", "g", "s"], perm.Sites);
        Assert.Equal("s", perm.Target);
        Assert.Equal(Verdict.Holds, perm.Verdict);
    }
}
