using SymDsl.Diagnostics;

namespace SymDsl.Core.Tests;

public class InputBindingTests
{
    static Compilation Compile(string inputShape, string data) => Compiler.CompileText("t.sym", $$"""
        model M {
            input x: {{inputShape}}
            layer f = Linear(8, 10)
            output logits = f(last(x))
        }
        train M { data {{data}} loss cross_entropy(logits, label) optimizer sgd }
        """);

    [Fact]
    public void A_field_with_the_same_number_of_entries_is_read_in_the_input_shape()
    {
        var c = Compile("[8, 8]", "digits()");
        Assert.DoesNotContain(c.Diagnostics, d => d.Level == DiagnosticLevel.Error);
    }

    [Fact]
    public void A_field_with_a_different_number_of_entries_is_an_error_naming_both_shapes()
    {
        var c = Compile("[7, 8]", "digits()");
        var error = Assert.Single(c.Diagnostics, d => d.Level == DiagnosticLevel.Error);
        Assert.Equal("SYM0508", error.Code);
        Assert.Contains("[7, 8]", error.Message);
        Assert.Contains("[64]", error.Message);
    }

    [Fact]
    public void Csv_accepts_standardize_and_fills_its_default()
    {
        var c = Compile("[8, 8]", "csv(path = \"d.csv\", label = \"class\", standardize = true)");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.True(c.Program!.Trains[0].Data.Args["standardize"].AsBool());
        var plain = Compile("[8, 8]", "csv(path = \"d.csv\")");
        Assert.False(plain.Program!.Trains[0].Data.Args["standardize"].AsBool());
    }
}
