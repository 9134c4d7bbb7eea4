using SymDsl.Diagnostics;

namespace SymDsl.Core.Tests;

/// <summary>The checker on byte-level text: text's fields, token inputs, cross_entropy over positions, positional embeddings.</summary>
public class TextSourceCheckTests
{
    static Compilation Compile(string body, string loss = "cross_entropy(logits, next)", string data = "text(\"corpus.txt\", context = 8)") => Compiler.CompileText("t.sym", $$"""
        model M {
        {{body}}
        }
        train M {
            data {{data}}
            loss {{loss}}
            optimizer adam
        }
        """);

    const string Gpt = """
            input tokens: int [8]
            layer e = Embedding(256, 16)
            layer p = PositionalEmbedding(8, 16)
            layer a = SelfAttention(16, 2, causal = true)
            layer f = Linear(16, 256)
            h = p(e(tokens))
            output logits = f(h + a(h))
        """;

    static List<Diagnostic> Errors(Compilation c) => c.Diagnostics.Where(d => d.Level == DiagnosticLevel.Error).ToList();

    [Fact]
    public void A_token_model_with_logits_per_position_checks()
    {
        var c = Compile(Gpt);
        Assert.Empty(Errors(c));
        var train = c.Program!.Trains[0];
        Assert.Equal("tokens", train.FieldOf("tokens"));
        Assert.Equal(8L, train.Data.Args["context"].AsInt());
        Assert.Equal(0.1, train.Data.Args["test_fraction"].AsDouble());
        Assert.EndsWith("corpus.txt", train.Data.Args["path"].AsText());
        Assert.True(Path.IsPathRooted(train.Data.Args["path"].AsText()));
    }

    [Fact]
    public void Logits_without_the_positions_are_an_error_at_the_output()
    {
        var c = Compile(Gpt.Replace("output logits = f(h + a(h))", "output logits = f(mean(h + a(h)))"));
        var e = Assert.Single(Errors(c));
        Assert.Equal("SYM0518", e.Code);
        Assert.Equal("cross_entropy against 'next' of shape [8] needs logits of shape [8, classes], but 'logits' has shape [256]", e.Message);
        Assert.Equal((12, 24), (e.Span.Line, e.Span.Column));
    }

    [Fact]
    public void Logits_over_another_vocabulary_or_context_are_errors()
    {
        var wrongVocab = Assert.Single(Errors(Compile(Gpt.Replace("Linear(16, 256)", "Linear(16, 100)"))));
        Assert.Equal("SYM0518", wrongVocab.Code);
        Assert.Equal("text has 256 classes, but 'logits' has shape [8, 100]", wrongVocab.Message);
        // Windows of 16 tokens: the input [8] cannot read them (at the input), and the logits [8, 256] do not fit next [16] (at the loss).
        var wrongContext = Errors(Compile(Gpt, data: "text(\"corpus.txt\", context = 16)"));
        Assert.Equal(["SYM0508", "SYM0518"], wrongContext.Select(d => d.Code));
        Assert.Contains("text's field 'tokens' has shape [16]", wrongContext[0].Message);
        Assert.Contains("needs logits of shape [16, classes]", wrongContext[1].Message);
    }

    [Fact]
    public void Tokens_are_an_input_field_and_next_a_label_field()
    {
        // Reading next as the input: it is a label.
        var c = Compile(Gpt.Replace("input tokens: int [8]", "input next: int [8]").Replace("p(e(tokens))", "p(e(next))"));
        var e = Assert.Single(Errors(c));
        Assert.Equal("SYM0508", e.Code);
        Assert.Contains("gives the input field tokens", e.Message);
        // tokens as a loss target: not a label.
        var asTarget = Assert.Single(Errors(Compile(Gpt, loss: "cross_entropy(logits, tokens)")));
        Assert.Equal("SYM0518", asTarget.Code);
        // A float input cannot read token ids.
        var floatInput = Errors(Compile(Gpt.Replace("int [8]", "[8]")));
        Assert.Contains(floatInput, d => d.Code == "SYM0306" && d.Message.Contains("token ids"));
    }

    [Fact]
    public void A_stride_above_the_context_is_an_error()
    {
        var e = Assert.Single(Errors(Compile(Gpt, data: "text(\"corpus.txt\", context = 8, stride = 9)")));
        Assert.Contains("'stride' must not exceed 'context'", e.Message);
    }

    [Fact]
    public void PositionalEmbedding_takes_context_by_d_floats()
    {
        static Diagnostic One(string body) => Assert.Single(Errors(Compiler.CompileText("t.sym", $"model M {{\n{body}\n}}")));
        var rows = One("input x: [6, 4]\nlayer p = PositionalEmbedding(8, 4)\noutput y = p(x)");
        Assert.Equal("SYM0301", rows.Code);
        Assert.Contains("first dimension 8 (context)", rows.Message);
        Assert.Equal("SYM0301", One("input x: [8, 5]\nlayer p = PositionalEmbedding(8, 4)\noutput y = p(x)").Code);
        Assert.Equal("SYM0305", One("input x: [4]\nlayer p = PositionalEmbedding(8, 4)\noutput y = p(x)").Code);
        Assert.Equal("SYM0306", One("input x: int [8, 4]\nlayer p = PositionalEmbedding(8, 4)\noutput y = p(x)").Code);
    }

    [Fact]
    public void PositionalEmbedding_carries_the_residual_streams_symmetries()
    {
        var c = Compiler.CompileText("t.sym", """
            model M {
                input tokens: int [8]
                layer e = Embedding(256, 16)
                layer p = PositionalEmbedding(8, 16)
                layer n = LayerNorm(16)
                layer f = Linear(16, 256)
                h = p(e(tokens))
                output logits = f(n(h))
                symmetry perm  : permutation(h)
                symmetry level : scale(h)
                symmetry shift : translation(h)
            }
            """);
        Assert.Empty(Errors(c));
        var perm = c.Program!.Models[0].Symmetries.Single(s => s.Name == "perm");
        Assert.Contains(perm.Actions, a => a.Parameter == "p.weight" && a.Axis == 1);
        Assert.Contains(perm.Actions, a => a.Parameter == "e.weight" && a.Axis == 1);
    }
}

/// <summary>Image sources are read in the input's shape when the element counts agree: [1, 28, 28] and [1, 8, 8].</summary>
public class ImageShapeCheckTests
{
    [Theory]
    [InlineData("[1, 28, 28]", "fashion_mnist()")]
    [InlineData("[1, 28, 28]", "idx(images = \"i.gz\", labels = \"l.gz\")")]
    [InlineData("[28, 28]", "fashion_mnist()")]
    [InlineData("[1, 8, 8]", "digits()")]
    public void An_image_source_feeds_an_input_of_the_same_number_of_pixels(string shape, string data)
    {
        var c = Compiler.CompileText("t.sym", $$"""
            model M {
                input x: {{shape}}
                layer f = Linear({{shape.Split(", ")[^1].TrimEnd(']')}}, 10)
                output logits = f(mean(mean(x)))
            }
            train M { data {{data}} loss cross_entropy(logits, label) optimizer sgd }
            """.Replace("mean(mean(x))", shape.Count(ch => ch == ',') == 2 ? "mean(mean(x))" : "mean(x)"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal("x", c.Program!.Trains[0].FieldOf("x"));
    }
}
