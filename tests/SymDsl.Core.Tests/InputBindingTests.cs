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

/// <summary>
/// How model inputs bind to data fields (TrainIR.InputBindings): one input reads a source's one feature field whatever
/// the names; several inputs bind by name; the binding is decided at check time and recorded in the IR.
/// </summary>
public class InputBindingRuleTests
{
    static Compilation Compile(string inputs, string use, string data, string loss = "cross_entropy(logits, label)", string outputShape = "10") => Compiler.CompileText("t.sym", $$"""
        model M {
            {{inputs}}
            layer f = Linear(784, {{outputShape}})
            output logits = f({{use}})
        }
        train M { data {{data}} loss {{loss}} optimizer sgd }
        """);

    static IEnumerable<SymDsl.Diagnostics.Diagnostic> Errors(Compilation c) => c.Diagnostics.Where(d => d.Level == DiagnosticLevel.Error);

    [Theory]
    [InlineData("idx(images = \"train-images.gz\", labels = \"train-labels.gz\")")]
    [InlineData("fashion_mnist")]
    public void A_single_input_reads_the_one_feature_field_whatever_it_is_called(string data)
    {
        var c = Compile("input img: [784]", "img", data);
        Assert.Empty(Errors(c));
        var binding = Assert.Single(c.Program!.Trains[0].InputBindings);
        Assert.Equal(("img", "x"), (binding.Key, binding.Value));
        Assert.Equal("x", c.Program.Trains[0].FieldOf("img"));
    }

    [Fact]
    public void The_digits_field_is_read_in_the_shape_of_a_differently_named_input()
    {
        var c = Compiler.CompileText("t.sym", """
            model M {
                input pixels: [8, 8]
                layer f = Linear(8, 10)
                output logits = f(last(pixels))
            }
            train M { data digits() loss cross_entropy(logits, label) optimizer sgd }
            """);
        Assert.Empty(Errors(c));
        Assert.Equal("x", c.Program!.Trains[0].FieldOf("pixels"));
    }

    [Fact]
    public void A_single_input_of_a_csv_source_binds_to_its_features()
    {
        var c = Compiler.CompileText("t.sym", """
            model M {
                input features: [3]
                layer f = Linear(3, 2)
                output logits = f(features)
            }
            train M { data csv(path = "d.csv", label = "class") loss cross_entropy(logits, label) optimizer sgd }
            """);
        Assert.Empty(Errors(c));
        Assert.Equal("x", c.Program!.Trains[0].FieldOf("features"));
    }

    [Fact]
    public void A_single_input_still_checks_the_shape_of_the_field_it_binds_to()
    {
        var c = Compiler.CompileText("t.sym", """
            model M {
                input img: [785]
                layer f = Linear(785, 10)
                output logits = f(img)
            }
            train M { data fashion_mnist loss cross_entropy(logits, label) optimizer sgd }
            """);
        var e = Assert.Single(Errors(c));
        Assert.Equal("SYM0508", e.Code);
        Assert.Contains("input 'img' has shape [785]", e.Message);
        Assert.Contains("field 'x' has shape [784]", e.Message);
        Assert.Equal(2, e.Span.Line);
    }

    [Fact]
    public void An_input_named_like_the_label_binds_by_name_and_is_refused()
    {
        // A name that is a field of the data always binds to that field: the label is not a feature.
        var c = Compile("input label: [784]", "label", "fashion_mnist");
        var e = Assert.Single(Errors(c), d => d.Code == "SYM0508");
        Assert.Contains("input 'label'", e.Message);
        Assert.Empty(c.Program?.Trains ?? []);
    }

    [Fact]
    public void A_regression_target_is_not_a_feature()
    {
        var c = Compiler.CompileText("t.sym", """
            model M {
                input target: [4]
                layer f = Linear(4, 4)
                output y = f(target)
            }
            train M { data teacher(d_in = 4, d_out = 4) loss mse(y, target) optimizer sgd }
            """);
        var e = Assert.Single(Errors(c), d => d.Code == "SYM0508");
        Assert.Contains("input 'target'", e.Message);
        Assert.Contains("input field x", e.Message);
    }

    [Fact]
    public void Several_inputs_bind_by_name_and_a_missing_name_is_an_error_listing_the_fields()
    {
        var c = Compiler.CompileText("t.sym", """
            model Two {
                input img: [784]
                input x: [784]
                layer f = Linear(784, 10)
                output logits = f(img + x)
            }
            train Two { data fashion_mnist loss cross_entropy(logits, label) optimizer sgd }
            """);
        var e = Assert.Single(Errors(c));
        Assert.Equal("SYM0508", e.Code);
        Assert.Equal(2, e.Span.Line); // at `input img`
        Assert.Equal("input 'img' has no field of that name in data source 'fashion_mnist' (its fields: x, label); model 'Two' has 2 inputs, and several inputs bind to data fields by name", e.Message);
    }

    [Fact]
    public void The_binding_is_in_the_ir_json()
    {
        var c = Compile("input img: [784]", "img", "fashion_mnist");
        using var json = System.Text.Json.JsonDocument.Parse(SymDsl.Emit.IrJson.Serialize(c.Program!));
        var train = json.RootElement.GetProperty("trains")[0];
        Assert.Equal("x", train.GetProperty("inputBindings").GetProperty("img").GetString());
        Assert.Equal("M", train.GetProperty("name").GetString());
    }
}
