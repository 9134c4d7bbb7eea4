using SymDsl.Tests;
using SymDsl.Emit;
using SymDsl.IR;

namespace SymDsl.Core.Tests;

/// <summary>Models used as blocks (<c>layer b = Block(d = 32)</c>, <c>b(x)</c>), qualified names, and <c>import</c>.</summary>
public class BlockTests
{
    // A pre-norm residual MLP block, and a model with a residual stream through two of them (tests/Shared/BlockModels.cs).
    const string Ffn = BlockModels.Ffn;

    const string Stream = BlockModels.Stream + """
        train Net {
            data teacher(d_in = 4, d_out = 3)
            loss mse(logits, target)
            optimizer adam
            break syre on stream, blk[1].perm
            diagnose rank(blk[2].h), rank(blk[1].fc1.weight)
        }
        """;

    static Compilation Ok(string src)
    {
        var c = Compiler.CompileText("t.sym", src);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return c;
    }

    static void Error(string src, string code, int line, int column, string? contains = null)
    {
        var c = Compiler.CompileText("t.sym", src);
        Assert.True(c.HasErrors, "expected an error");
        var d = Assert.Single(c.Diagnostics, d => d.Code == code);
        Assert.Equal((line, column), (d.Span.Line, d.Span.Column));
        if (contains is not null) Assert.Contains(contains, d.Message);
    }

    [Fact]
    public void A_block_is_inlined_with_qualified_names_and_its_structure_recorded()
    {
        var net = Ok(Stream).Program!.Model("Net");
        Assert.Equal(["inp", "blk[1].ln", "blk[1].fc1", "blk[1].fc2", "blk[2].ln", "blk[2].fc1", "blk[2].fc2", "out"], net.Layers.Select(l => l.Name));
        Assert.Contains("blk[2].fc1.weight", net.Parameters.Select(p => p.Name));
        Assert.Equal([16, 8], net.Layer("blk[2].fc1").Parameter("weight").Shape);
        Assert.NotNull(net.Site("blk[1].h"));
        Assert.Equal("blk[1].fc1", net.Nodes.First(n => n.Op == OpKind.Layer && n.Site is null && n.Attr("layer").EndsWith("fc1")).Attr("layer"));

        Assert.Equal(2, net.Blocks.Count);
        var b = net.Blocks[0];
        Assert.Equal(("blk[1]", "Ffn"), (b.Instance, b.Model));
        Assert.Equal((8L, 16L), (b.HyperArguments["d"].AsInt(), b.HyperArguments["hidden"].AsInt()));
        Assert.Equal(["blk[1].ln", "blk[1].fc1", "blk[1].fc2"], b.Layers);
        Assert.Equal([net.Site("s[0]")!.Id], b.Inputs);
        var output = Assert.Single(b.Outputs);
        Assert.Equal(("y", "blk[1].y"), (output.Name, net.Node(output.Node).Site));
        Assert.All(b.Nodes, id => Assert.InRange(id, b.Nodes[0], b.Nodes[^1]));
        Assert.Equal("Ffn", b.Definition.Name);
        Assert.Equal(["ln", "fc1", "fc2"], b.Definition.Layers.Select(l => l.Name));
        // Width feeds the blocks' structure: generated code cannot change it without recompiling.
        Assert.Contains("width", net.StructuralHyperParameters);
    }

    [Fact]
    public void A_residual_stream_through_two_blocks_is_one_permutation_space_and_not_a_rotation()
    {
        var c = Ok(Stream);
        var net = c.Program!.Model("Net");
        var stream = Assert.Single(net.Symmetries, s => s.Name == "stream");
        Assert.Equal(SymmetryKind.Permutation, stream.Kind);
        Assert.Equal(8, stream.Dim);
        // One space: the input layer's rows, both blocks' LayerNorm gains and fc1 columns, both fc2 rows, the output's columns.
        var acted = stream.Actions.Select(a => (a.Parameter, a.Axis, a.Role)).ToHashSet();
        Assert.Contains(("inp.weight", 0, ActionRole.Forward), acted);
        foreach (var blk in new[] { "blk[1]", "blk[2]" })
        {
            Assert.Contains(($"{blk}.ln.weight", 0, ActionRole.Forward), acted);
            Assert.Contains(($"{blk}.fc1.weight", 1, ActionRole.Inverse), acted);
            Assert.Contains(($"{blk}.fc2.weight", 0, ActionRole.Forward), acted);
        }
        Assert.Contains(("out.weight", 1, ActionRole.Inverse), acted);
        // Only one permutation on the stream (s[0], s[1], blk outputs, s[2]); the LayerNorms refute rotation and rescale of it.
        Assert.Single(net.Symmetries, s => s.Kind == SymmetryKind.Permutation && !s.Target.Contains(".h"));
        Assert.DoesNotContain(net.Symmetries, s => s.Kind is SymmetryKind.Rotation or SymmetryKind.Rescale && !s.Target.Contains(".h"));
        // The blocks' declared symmetries, qualified, hold in the whole model.
        Assert.Contains(net.Symmetries, s => s is { Name: "blk[2].scale", Kind: SymmetryKind.Rescale, Target: "blk[2].h", Declared: true });
        // The blocks' own symmetries are not warned about again in the model that uses them.
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0403" && d.Message.Contains("blk["));
    }

    [Fact]
    public void Without_normalisation_the_stream_through_blocks_is_a_rotation_space()
    {
        const string src = """
            model Lin(d: int = 6) {
                input x: [d]
                layer fc1 = Linear(d, 12)
                layer fc2 = Linear(12, d)
                h = relu(fc1(x))
                output y = fc2(h)
            }
            model Net {
                input x: [4]
                layer inp = Linear(4, 6)
                layer a = Lin()
                layer b = Lin()
                s0 = inp(x)
                s1 = s0 + a(s0)
                s2 = s1 + b(s1)
                layer out = Linear(6, 2)
                output z = out(s2)
                symmetry r : rotation(s2)
            }
            """;
        var net = Ok(src).Program!.Model("Net");
        var r = Assert.Single(net.Symmetries, s => s.Name == "r");
        Assert.Contains(r.Actions, a => a is { Parameter: "a.fc2.bias", Role: ActionRole.Forward });
        Assert.Contains(r.Actions, a => a is { Parameter: "b.fc1.weight", Axis: 1, Role: ActionRole.Inverse });
    }

    [Fact]
    public void Break_and_diagnose_name_qualified_symmetries_sites_and_parameters()
    {
        var train = Ok(Stream).Program!.Trains[0];
        var br = Assert.Single(train.Breaks);
        Assert.Equal(["stream", "blk[1].perm"], br.Symmetries);
        Assert.Contains("blk[1].fc1.weight", br.Parameters);
        Assert.Equal(["rank(blk[2].h)", "rank(blk[1].fc1.weight)"], train.Diagnostics.Select(d => d.Key));
        Assert.Equal(["site", "parameter"], train.Diagnostics.SelectMany(d => d.TargetKinds));
    }

    [Fact]
    public void A_block_with_several_inputs_and_outputs()
    {
        const string src = """
            model Two(d: int = 4) {
                input a: [d]
                input b: [d]
                layer f = Linear(d, d)
                s = f(a) + b
                output sum = s
                output prod = s * b
            }
            model Net {
                input x: [4]
                layer t = Two()
                p = t(x, relu(x)).prod
                output y = p + t.sum
            }
            """;
        var net = Ok(src).Program!.Model("Net");
        var t = Assert.Single(net.Blocks);
        Assert.Equal(2, t.Inputs.Count);
        Assert.Equal(["sum", "prod"], t.Outputs.Select(o => o.Name));
    }

    [Fact]
    public void Block_errors_are_reported_at_their_line_and_column()
    {
        const string head = """
            model B(d: int, k: int = 2) {
                input x: [d]
                layer fc = Linear(d, d)
                output y = fc(x)
            }

            """;
        // model N starts at line 6
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4, q = 1)\n    output y = b(x) }", "SYM0211", 7, 24, "no argument 'q'");
        Error(head + "model N { input x: [4]\n    layer b = B(k = 1)\n    output y = b(x) }", "SYM0211", 7, 5, "'d'");
        Error(head + "model N { input x: [4]\n    layer b = B(4)\n    output y = b(x) }", "SYM0211", 7, 17, "by name");
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4.5)\n    output y = b(x) }", "SYM0204", 7, 21);
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4)\n    output y = b(x, x) }", "SYM0242", 8, 16, "takes 1 input");
        Error(head + "model N { input x: [4]\n    layer b = B(d = 3)\n    output y = b(x) }", "SYM0243", 8, 18, "expects [3], but got [4]");
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4)\n    h = b(x)\n    output y = b(h) }", "SYM0241", 9, 16, "already applied at line 8");
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4)\n    output y = b(x).z }", "SYM0244", 8, 21, "no output 'z'");
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4)\n    output y = b.y }", "SYM0244", 8, 16, "not applied yet");
        Error(head + "model N { input x: [4]\n    layer b = B(d = 4)\n    output y = b }", "SYM0212", 8, 16, "a block");
    }

    [Fact]
    public void A_block_that_does_not_check_with_its_arguments_is_an_error_at_the_use()
    {
        const string src = """
            model A(d: int = 8, heads: int = 2) {
                input x: [4, d]
                layer attn = SelfAttention(d, heads)
                output y = attn(x)
            }
            model N {
                input x: [4, 6]
                layer a = A(d = 6, heads = 4)
                output y = a(x)
            }
            """;
        Error(src, "SYM0249", 8, 15, "SYM0304");
    }

    [Fact]
    public void A_model_that_uses_itself_is_an_error_where_the_cycle_closes()
    {
        Error("model A { input x: [2]\n  layer me = A()\n  output y = me(x) }", "SYM0240", 2, 14, "A → A");
        var c = Compiler.CompileText("t.sym", "model A { input x: [2]\n  layer b = B()\n  output y = b(x) }\nmodel B { input x: [2]\n  layer a = A()\n  output y = a(x) }");
        Assert.Equal([(2, 13), (5, 13)], c.Diagnostics.Where(d => d.Code == "SYM0240").Select(d => (d.Span.Line, d.Span.Column)).OrderBy(p => p));
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0001");
    }

    [Fact]
    public void A_block_symmetry_that_breaks_where_the_block_is_used_is_rejected_at_the_use()
    {
        // In Head alone, trained with cross-entropy, a shift of its logits holds; in Net a relu reads them.
        const string src = """
            model Head(d: int = 4) {
                input x: [d]
                layer fc = Linear(d, 3)
                output logits = fc(x)
                symmetry shift : translation(logits)
            }
            train Head {
                data teacher(d_in = 4, d_out = 3)
                loss cross_entropy(logits, target)
                optimizer adam
            }
            model Net {
                input x: [4]
                layer h = Head()
                layer out = Linear(3, 2)
                output y = out(relu(h(x)))
            }
            """;
        var c = Compiler.CompileText("t.sym", src);
        var d = Assert.Single(c.Diagnostics, d => d.Code == "SYM0245");
        Assert.Equal((16, 25), (d.Span.Line, d.Span.Column));
        Assert.Contains("'h.shift' declared in Head (line 5)", d.Message);
        Assert.Contains("relu", d.Message);
    }

    [Fact]
    public void A_model_whose_hyper_parameter_has_no_default_is_checked_where_it_is_used()
    {
        const string src = """
            model B(d: int) {
                input x: [d]
                layer fc = Linear(d, d)
                output y = fc(x)
            }
            model N {
                input x: [5]
                layer b = B(d = 5)
                output y = b(x)
            }
            """;
        var program = Ok(src).Program!;
        Assert.Equal(["N"], program.Models.Select(m => m.Name));
    }

    [Fact]
    public void Generated_CSharp_has_one_class_per_distinct_block()
    {
        const string src = Ffn + """
            model Net {
                input x: [8]
                layer a = Ffn()
                layer b = Ffn()
                layer c = Ffn(hidden = 4)
                output y = c(b(a(x)))
            }
            """;
        var net = Ok(src).Program!.Model("Net");
        var code = CSharpEmitter.Emit(net, "Test.Generated");
        Assert.Contains("private readonly Ffn a;", code);
        Assert.Contains("private readonly Ffn b;", code);
        Assert.Contains("private readonly Ffn_2 c;", code);
        Assert.Equal(1, code.Split("public sealed class Ffn :").Length - 1);
        Assert.Equal(1, code.Split("public sealed class Ffn_2 :").Length - 1);
        Assert.Contains("var a_y = a.forward(x);", code);
        Assert.Contains("public Ffn_2(long d = 8, long hidden = 4)", code);
        var problem = Fuzzing.FuzzOracle.CheckCompiles([("Net.g.cs", code)]);
        Assert.True(problem is null, $"{problem}\n\n{code}");
    }

    // ---------------------------------------------------------------- import

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-blocks-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Import_brings_another_files_models_relative_to_the_importing_file()
    {
        var dir = TempDir();
        Directory.CreateDirectory(Path.Combine(dir, "lib"));
        File.WriteAllText(Path.Combine(dir, "lib", "ffn.sym"), Ffn + "train Ffn { data teacher(d_in = 8, d_out = 8)\n loss mse(y, target)\n optimizer adam }\n");
        File.WriteAllText(Path.Combine(dir, "main.sym"), """
            import "lib/ffn.sym"
            model Net {
                input x: [8]
                layer b = Ffn()
                output y = b(x)
            }
            """);
        var c = Compiler.CompileFile(Path.Combine(dir, "main.sym"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(["Net", "Ffn"], c.Program!.Models.Select(m => m.Name));
        Assert.Empty(c.Program.Trains); // not the imported file's train blocks
        Assert.Contains("b.fc2.weight", c.Program.Model("Net").Parameters.Select(p => p.Name));
    }

    [Fact]
    public void Import_errors_are_reported_at_the_import_and_errors_inside_with_the_imported_path()
    {
        var dir = TempDir();
        File.WriteAllText(Path.Combine(dir, "a.sym"), "import \"b.sym\"\nmodel A { input x: [2]\n output y = x }\n");
        File.WriteAllText(Path.Combine(dir, "b.sym"), "model Z { input x: [2]\n output y = x }\n\nimport \"a.sym\"\n");
        File.WriteAllText(Path.Combine(dir, "c.sym"), "model Q { input x: [2]\n  output y = x }\n  import \"none.sym\"\nimport \"d.sym\"\n");
        File.WriteAllText(Path.Combine(dir, "d.sym"), "model Q { input x: [2]\n output y = relu(x) }\nmodel Bad { input x: [2]\n output y = nope(x) }\n");

        var cycle = Compiler.CompileFile(Path.Combine(dir, "a.sym"));
        var d = Assert.Single(cycle.Diagnostics, d => d.Code == "SYM0247");
        Assert.Equal(("b.sym", 4, 1), (Path.GetFileName(d.Span.File), d.Span.Line, d.Span.Column));
        Assert.Contains("a.sym → b.sym → a.sym", d.Message);

        var c = Compiler.CompileFile(Path.Combine(dir, "c.sym"));
        var missing = Assert.Single(c.Diagnostics, d => d.Code == "SYM0246");
        Assert.Equal(("c.sym", 3, 3), (Path.GetFileName(missing.Span.File), missing.Span.Line, missing.Span.Column));
        var twice = Assert.Single(c.Diagnostics, d => d.Code == "SYM0248");
        Assert.Equal(("c.sym", 4, 1), (Path.GetFileName(twice.Span.File), twice.Span.Line, twice.Span.Column));
        var inside = Assert.Single(c.Diagnostics, d => d.Code == "SYM0210");
        Assert.Equal(("d.sym", 4, 13), (Path.GetFileName(inside.Span.File), inside.Span.Line, inside.Span.Column));
    }
}
