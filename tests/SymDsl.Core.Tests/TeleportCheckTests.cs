using SymDsl.Diagnostics;
using SymDsl.IR;

namespace SymDsl.Core.Tests;

/// <summary>`teleport G, … every N steps` in a train block: what the checker accepts (TrainIR.Teleports) and SYM0520–0526.</summary>
public class TeleportCheckTests
{
    const string Models = """
        model Mlp {
            input x: [64]
            layer fc1 = Linear(64, 16)
            layer fc2 = Linear(16, 10)
            h = relu(fc1(x))
            output logits = fc2(h)
            symmetry perm : permutation(h)
            symmetry scale : rescale(h)
        }

        model Chain {
            input x: [64]
            layer fc1 = Linear(64, 8)
            layer fc2 = Linear(8, 10)
            z = fc1(x)
            output logits = fc2(z)
        }

        """;

    static Compilation Compile(string model, string clause)
        => Compiler.CompileText("t.sym", Models + $"train {model} {{\n    data digits()\n    loss cross_entropy(logits, label)\n    optimizer sgd\n    {clause}\n}}\n");

    static Diagnostic Single(Compilation c, string code)
    {
        var errors = c.Diagnostics.Where(d => d.Level == DiagnosticLevel.Error).ToList();
        Assert.True(errors.Count == 1, string.Join("\n", c.Diagnostics));
        Assert.Equal(code, errors[0].Code);
        Assert.Equal(Models.Count(ch => ch == '\n') + 5, errors[0].Span.Line); // the clause's line: after the models, `train`, data, loss, optimizer
        return errors[0];
    }

    [Fact]
    public void A_rescale_group_of_an_MLP_and_a_rotation_of_a_linear_chain_are_accepted()
    {
        var c = Compile("Mlp", "teleport rescale(h) every 5 steps");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var t = Assert.Single(c.Program!.Trains[0].Teleports);
        Assert.Equal(["scale"], t.Symmetries); // the declared symmetry's name
        Assert.Equal(["rescale(h)"], t.Groups);
        Assert.Equal(5, t.Every);

        c = Compile("Chain", "teleport rotation(z), rescale(z) every 1 step");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics.Where(d => d.Level == DiagnosticLevel.Error)));
        t = Assert.Single(c.Program!.Trains[0].Teleports);
        Assert.Equal(["rotation(z)", "rescale(z)"], t.Groups);
        Assert.Equal(1, t.Every);
    }

    [Fact]
    public void A_declared_symmetry_may_be_named_and_the_IR_JSON_lists_the_clause()
    {
        var c = Compile("Mlp", "teleport scale every 3 steps");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(["rescale(h)"], c.Program!.Trains[0].Teleports[0].Groups);
        Assert.Contains("\"teleports\"", SymDsl.Emit.IrJson.Serialize(c.Program));
        // A block without teleport writes no "teleports" key (its IR JSON is as before the clause existed).
        var plain = Compiler.CompileText("t.sym", Models + "train Mlp { data digits() loss cross_entropy(logits, label) optimizer sgd }\n");
        Assert.DoesNotContain("\"teleports\"", SymDsl.Emit.IrJson.Serialize(plain.Program!));
    }

    [Fact]
    public void A_group_the_compiler_did_not_infer_is_SYM0520_at_the_group()
    {
        var d = Single(Compile("Mlp", "teleport rotation(h) every 5 steps"), "SYM0520");
        Assert.Contains("rotation(h) is not a symmetry the compiler inferred for train block 'Mlp'", d.Message);
        Assert.Equal(14, d.Span.Column);
        Single(Compile("Mlp", "teleport rescale(logits) every 5 steps"), "SYM0520");
        Single(Compile("Mlp", "teleport nosuch every 5 steps"), "SYM0520");
    }

    [Fact]
    public void A_discrete_group_is_SYM0521()
    {
        var d = Single(Compile("Mlp", "teleport permutation(h) every 5 steps"), "SYM0521");
        Assert.Contains("teleport needs a continuous group, but permutation(h) is a permutation symmetry", d.Message);
        Single(Compile("Chain", "teleport sign(z) every 5 steps"), "SYM0521");
    }

    [Fact]
    public void A_translation_is_SYM0522()
    {
        var d = Single(Compile("Mlp", "teleport translation(logits) every 5 steps"), "SYM0522");
        Assert.Contains("same gradient norm", d.Message);
    }

    [Fact]
    public void The_every_clause_is_required_and_N_must_be_at_least_one()
    {
        Single(Compile("Mlp", "teleport rescale(h)"), "SYM0523");
        Single(Compile("Mlp", "teleport rescale(h) every 5 epochs"), "SYM0523");
        var d = Single(Compile("Mlp", "teleport rescale(h) every 0 steps"), "SYM0524");
        Assert.Contains("N ≥ 1, but N is 0", d.Message);
        Single(Compile("Mlp", "teleport rescale(h) every -2 steps"), "SYM0524");
    }

    [Fact]
    public void A_malformed_group_is_SYM0525_and_a_repeated_one_SYM0526()
    {
        var d = Single(Compile("Mlp", "teleport rescal(h) every 5 steps"), "SYM0525");
        Assert.Contains("did you mean 'rescale'", d.Message);
        Single(Compile("Mlp", "teleport rescale(h, h) every 5 steps"), "SYM0525");
        Single(Compile("Mlp", "teleport rescale() every 5 steps"), "SYM0525");
        Single(Compile("Mlp", "teleport rescale(h), scale every 5 steps"), "SYM0526");
    }
}
