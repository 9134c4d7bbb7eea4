using SymDsl.Diagnostics;
using SymDsl.IR;

namespace SymDsl.Core.Tests;

/// <summary>Train blocks are named `train MODEL as NAME { … }` (else by their model); ProgramIR.Train(name) selects one.</summary>
public class TrainBlockNameTests
{
    const string Model = """
        model M {
            input x: [64]
            layer f = Linear(64, 10)
            output logits = f(x)
        }

        """;

    static Compilation Compile(string trains) => Compiler.CompileText("t.sym", Model + trains);

    static string Block(string head, string loss = "cross_entropy(logits, label)") => $"{head} {{ data digits() loss {loss} optimizer sgd }}\n";

    [Fact]
    public void A_block_is_named_by_as_or_else_by_its_model()
    {
        var c = Compile(Block("train M as fast") + Block("train M"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(["fast", "M"], c.Program!.Trains.Select(t => t.Name));
        Assert.Equal([true, false], c.Program.Trains.Select(t => t.Named));
        Assert.All(c.Program.Trains, t => Assert.Equal("M", t.Model));
        Assert.Same(c.Program.Trains[0], c.Program.Train("fast"));
        Assert.Same(c.Program.Trains[1], c.Program.Train("M"));
    }

    [Fact]
    public void The_only_block_is_selected_without_a_name()
    {
        var c = Compile(Block("train M"));
        Assert.Same(c.Program!.Trains[0], c.Program.Train(null));
        Assert.Same(c.Program.Trains[0], c.Program.Train("M"));
    }

    [Fact]
    public void Several_blocks_and_no_name_is_an_error_listing_the_names()
    {
        var c = Compile(Block("train M as fast") + Block("train M as slow"));
        var e = Assert.Throws<TrainSelectionException>(() => c.Program!.Train(null));
        Assert.Equal("t.sym has 2 train blocks; choose one with --train NAME (fast, slow)", e.Message);
    }

    [Fact]
    public void An_unknown_name_is_an_error_listing_the_names()
    {
        var c = Compile(Block("train M as fast") + Block("train M"));
        var e = Assert.Throws<TrainSelectionException>(() => c.Program!.Train("fats"));
        Assert.Equal("t.sym has no train block called 'fats'; its train blocks are: fast, M", e.Message);
    }

    [Fact]
    public void Unnamed_blocks_of_one_model_check_but_selecting_them_asks_for_names()
    {
        var c = Compile(Block("train M") + Block("train M"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var e = Assert.Throws<TrainSelectionException>(() => c.Program!.Train("M"));
        Assert.Contains("2 train blocks called 'M'", e.Message);
        Assert.Contains("train M as NAME", e.Message);
    }

    [Fact]
    public void A_file_without_train_blocks_is_an_input_error()
    {
        var c = Compile("");
        var e = Assert.Throws<SymDslException>(() => c.Program!.Train(null));
        Assert.Contains("has no train block", e.Message);
    }

    [Theory]
    [InlineData("train M as a", "train M as a")]
    [InlineData("train M", "train M as M")]
    [InlineData("train M as M", "train M")]
    public void A_name_given_twice_is_SYM0519_at_the_second(string first, string second)
    {
        var c = Compile(Block(first) + Block(second));
        var e = Assert.Single(c.Diagnostics, d => d.Level == DiagnosticLevel.Error);
        Assert.Equal("SYM0519", e.Code);
        Assert.Equal(7, e.Span.Line);
        Assert.Contains("already defined at line 6", e.Message);
    }

    [Fact]
    public void As_may_name_an_argument()
    {
        // `as` is a keyword now; like the others it is still allowed as an argument name.
        var c = Compile(Block("train M as v2"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal("v2", c.Program!.Train("v2").Name);
    }
}
