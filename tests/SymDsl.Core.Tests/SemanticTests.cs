using SymDsl.IR;

namespace SymDsl.Core.Tests;

/// <summary>Unit tests of the semantic model: the mlp contract, symmetry inference and actions, shapes, overrides.</summary>
public class SemanticTests
{
    static Compilation Ok(string src, CompileOptions? options = null)
    {
        var c = Compiler.CompileText("t.sym", src, options);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return c;
    }

    static SymmetryIR Sym(ModelIR m, SymmetryKind kind, string target) => Assert.Single(m.Symmetries, s => s.Kind == kind && s.Target == target);

    static IEnumerable<(string, int, ActionRole)> Actions(SymmetryIR s) => s.Actions.Select(a => (a.Parameter, a.Axis, a.Role));

    [Fact]
    public void Mlp_example_matches_the_contract()
    {
        var c = Compiler.CompileFile(Paths.Example("mlp.sym"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var m = c.Program!.Model("Mlp");
        Assert.Equal(128L, m.HyperParameters["width"].AsInt());
        var x = Assert.Single(m.Inputs);
        Assert.Equal(("x", ElementType.Float32), (x.Name, x.Type));
        Assert.Equal([64], x.Shape);
        var fc1 = m.Layer("fc1");
        Assert.Equal(LayerKind.Linear, fc1.Kind);
        Assert.Equal((64L, 128L, true), (fc1.Args["in"].AsInt(), fc1.Args["out"].AsInt(), fc1.Args["bias"].AsBool()));
        Assert.Equal(["fc1.weight", "fc1.bias"], fc1.Parameters.Select(p => p.Name));
        Assert.Equal([128, 64], fc1.Parameter("weight").Shape);
        Assert.Equal([128], fc1.Parameter("bias").Shape);
        Assert.Equal([10, 128], m.Layer("fc2").Parameter("weight").Shape);

        Assert.Equal([OpKind.Input, OpKind.Layer, OpKind.Activation, OpKind.Layer], m.Nodes.Select(n => n.Op));
        Assert.Equal("relu", m.Nodes[2].Attr("fn"));
        Assert.Equal("h", m.Nodes[2].Site);
        Assert.Equal("logits", m.Nodes[3].Site);
        Assert.Equal("fc2", m.Nodes[3].Attr("layer"));
        Assert.Equal(new OutputIR("logits", 3), Assert.Single(m.Outputs));

        var perm = Sym(m, SymmetryKind.Permutation, "h");
        Assert.Equal(("perm", true, true, 128, 1), (perm.Name, perm.Declared, perm.Inferred, perm.Dim, perm.Blocks));
        Assert.Equal([("fc1.weight", 0, ActionRole.Forward), ("fc1.bias", 0, ActionRole.Forward), ("fc2.weight", 1, ActionRole.Inverse)], Actions(perm));
        var scale = Sym(m, SymmetryKind.Rescale, "h");
        Assert.Equal(("scale", true), (scale.Name, scale.Declared));
        Assert.Equal(Actions(perm), Actions(scale));
        var shift = Sym(m, SymmetryKind.Translation, "logits");
        Assert.Equal(("translation(logits)", false, true, 1), (shift.Name, shift.Declared, shift.Inferred, shift.Dim));
        Assert.Equal([("fc2.bias", 0, ActionRole.Shift)], Actions(shift));
        Assert.Equal(3, m.Symmetries.Count);
        Assert.Contains(c.Diagnostics, d => d.Code == "SYM0403" && d.Message.Contains("translation(logits)"));

        var t = Assert.Single(c.Program.Trains);
        Assert.Equal("Mlp", t.Model);
        Assert.Equal("digits", t.Data.Kind);
        Assert.Equal(0.2, t.Data.Args["test_fraction"].AsDouble());
        Assert.Equal(("cross_entropy", "logits", "label"), (t.Loss.Kind, t.Loss.Output, t.Loss.Target));
        Assert.Equal("sgd", t.Optimizer.Kind);
        Assert.Equal((0.05, 0.9, 1e-4), (t.Optimizer.Args["lr"].AsDouble(), t.Optimizer.Args["momentum"].AsDouble(), t.Optimizer.Args["weight_decay"].AsDouble()));
        Assert.Equal((64, 20, (int?)null, 1L), (t.Batch, t.Epochs, t.Steps, t.Seed));
        var b = Assert.Single(t.Breaks);
        Assert.Equal("syre", b.Method);
        Assert.Equal(0.1, b.Args["sigma"].AsDouble());
        Assert.Equal(["perm", "scale"], b.Symmetries);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight"], b.Parameters);
        Assert.Equal(["collapse(scale)", "balance(scale)", "duplicates(perm)", "rank(fc1.weight)"], t.Diagnostics.Select(d => d.Key));
        Assert.All(t.Diagnostics, d => Assert.Equal(10, d.Every));
        Assert.Equal(["symmetry", "symmetry", "symmetry", "parameter"], t.Diagnostics.Select(d => d.TargetKinds[0]));
    }

    [Fact]
    public void Tanh_site_has_sign_and_permutation_but_not_rescale()
    {
        var c = Ok("""
            model T() {
                input x: [5]
                layer a = Linear(5, 7)
                layer b = Linear(7, 2, bias = false)
                h = tanh(a(x))
                output y = b(h)
            }
            """);
        var m = c.Program!.Models[0];
        Assert.Equal([("a.weight", 0, ActionRole.Forward), ("a.bias", 0, ActionRole.Forward), ("b.weight", 1, ActionRole.Inverse)], Actions(Sym(m, SymmetryKind.Sign, "h")));
        Sym(m, SymmetryKind.Permutation, "h");
        Assert.DoesNotContain(m.Symmetries, s => s.Kind is SymmetryKind.Rescale or SymmetryKind.Rotation);
        Assert.DoesNotContain(m.Symmetries, s => s.Kind == SymmetryKind.Translation); // no cross_entropy, no softmax
        Assert.Equal(2, c.Diagnostics.Count(d => d.Code == "SYM0403"));
    }

    [Fact]
    public void Linear_site_has_rotation_and_declaring_it_covers_its_subgroups()
    {
        var c = Ok("""
            model L() {
                input x: [4]
                layer w1 = Linear(4, 6, bias = false)
                layer w2 = Linear(6, 3, bias = false)
                h = w1(x)
                output y = w2(h)
                symmetry r : rotation(h)
            }
            """);
        var m = c.Program!.Models[0];
        var r = Sym(m, SymmetryKind.Rotation, "h");
        Assert.Equal((6, true), (r.Dim, r.Declared));
        Assert.Equal([("w1.weight", 0, ActionRole.Forward), ("w2.weight", 1, ActionRole.Inverse)], Actions(r));
        Assert.Equal(4, m.Symmetries.Count); // rotation, permutation, rescale, sign
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0403");
    }

    [Fact]
    public void Attention_rotations_act_per_head()
    {
        var c = Ok("""
            model A() {
                input x: [5, 12]
                layer attn = SelfAttention(12, 3)
                output y = attn(x)
                symmetry qk : rotation(attn.qk)
            }
            """);
        var m = c.Program!.Models[0];
        var qk = Sym(m, SymmetryKind.Rotation, "attn.qk");
        Assert.Equal(("qk", 4, 3), (qk.Name, qk.Dim, qk.Blocks));
        Assert.Equal([("attn.q.weight", 0, ActionRole.Forward), ("attn.q.bias", 0, ActionRole.Forward), ("attn.k.weight", 0, ActionRole.Inverse), ("attn.k.bias", 0, ActionRole.Inverse)], Actions(qk));
        var vo = Sym(m, SymmetryKind.Rotation, "attn.vo");
        Assert.False(vo.Declared);
        Assert.Equal([("attn.v.weight", 0, ActionRole.Forward), ("attn.v.bias", 0, ActionRole.Forward), ("attn.o.weight", 1, ActionRole.Inverse)], Actions(vo));
        Assert.Equal(["attn.q.weight", "attn.q.bias", "attn.k.weight", "attn.k.bias", "attn.v.weight", "attn.v.bias", "attn.o.weight", "attn.o.bias"], m.Layer("attn").Parameters.Select(p => p.Name));
    }

    [Fact]
    public void Scale_before_layer_norm_acts_on_the_whole_producer()
    {
        var c = Ok("""
            model N() {
                input x: [8]
                layer fc = Linear(8, 6)
                layer ln = LayerNorm(6)
                layer out = Linear(6, 2)
                z = fc(x)
                output y = out(ln(z))
                symmetry s : scale(z)
            }
            """);
        var s = Sym(c.Program!.Models[0], SymmetryKind.Scale, "z");
        Assert.Equal([("fc.weight", -1, ActionRole.Forward), ("fc.bias", -1, ActionRole.Forward)], Actions(s));
        Assert.Equal((1, 1), (s.Dim, s.Blocks));
    }

    [Fact]
    public void Residual_consumer_breaks_permutation_and_rescale()
    {
        var c = Compiler.CompileText("t.sym", """
            model R() {
                input x: [4]
                layer a = Linear(4, 4)
                layer b = Linear(4, 4)
                h = relu(a(x))
                output y = b(h) + h
                symmetry p : permutation(h)
            }
            """);
        var d = Assert.Single(c.Diagnostics, d => d.Code == "SYM0402");
        Assert.Equal((7, 5), (d.Span.Line, d.Span.Column));
        // The sum puts h in the stream that reaches the output y: the output fixes its units.
        Assert.Contains("the output 'y'", d.Message);
        Assert.Null(c.Program);
        // Nothing is inferred at h either.
        var undeclared = Compiler.CompileText("t.sym", """
            model R() {
                input x: [4]
                layer a = Linear(4, 4)
                layer b = Linear(4, 4)
                h = relu(a(x))
                output y = b(h) + h
            }
            """);
        Assert.DoesNotContain(undeclared.Program!.Models[0].Symmetries, s => s.Target == "h");
    }

    [Fact]
    public void Shared_layer_has_no_unit_symmetry()
    {
        var c = Ok("""
            model S() {
                input x: [4]
                layer a = Linear(4, 4)
                layer b = Linear(4, 2)
                h = relu(a(x))
                g = relu(a(h))
                output y = b(g)
            }
            """);
        Assert.DoesNotContain(c.Program!.Models[0].Symmetries, s => s.Target == "h");
    }

    [Fact]
    public void Shapes_flow_through_every_op()
    {
        var c = Ok("""
            model S(d: int = 8) {
                input t: int [10]
                input s: [10, 3]
                layer emb = Embedding(50, d)
                layer attn = SelfAttention(d, 2)
                layer rnn = RNN(3, d, integrator = rk2)
                layer ln = LayerNorm(d)
                e = emb(t)
                a = ln(attn(e)) + rnn(s)
                m = mean(a)
                l = last(a) - 0.5 * m
                f = flatten(a)
                output y = gelu(l) * sigmoid(m)
                output z = softmax(f)
            }
            """);
        var m = c.Program!.Models[0];
        int[] Shape(string site) => m.Site(site)!.Shape.ToArray();
        Assert.Equal([10, 8], Shape("e"));
        Assert.Equal([10, 8], Shape("a"));
        Assert.Equal([8], Shape("m"));
        Assert.Equal([8], Shape("l"));
        Assert.Equal([80], Shape("f"));
        Assert.Contains(m.Nodes, n => n.Op == OpKind.Scale && n.Attrs["factor"].AsDouble() == 0.5);
        Assert.Equal(ElementType.Int64, m.Inputs[0].Type);
        Assert.Equal(["rnn.input.weight", "rnn.hidden.weight", "rnn.bias"], m.Layer("rnn").Parameters.Select(p => p.Name));
        Assert.Equal("rk2", m.Layer("rnn").Args["integrator"].AsText());
        Assert.Equal("tanh", m.Layer("rnn").Args["activation"].AsText());
    }

    [Theory]
    [InlineData("layer f = Linear(5, 2)\n output y = f(x)", "SYM0301")]
    [InlineData("layer f = LayerNorm(3)\n output y = f(x)", "SYM0301")]
    [InlineData("layer f = SelfAttention(4, 2)\n output y = f(x)", "SYM0305")]
    [InlineData("layer f = Embedding(10, 2)\n output y = f(x)", "SYM0306")]
    [InlineData("layer f = Linear(4, 2)\n output y = f(x) + x", "SYM0302")]
    [InlineData("output y = x / x", "SYM0218")]
    [InlineData("layer f = Linear(4, 0)\n output y = f(x)", "SYM0303")]
    [InlineData("layer f = Linear(4, 2, init = normal())\n output y = f(x)", "SYM0211")]
    [InlineData("layer f = Linear(4, 2, bias = 3)\n output y = f(x)", "SYM0204")]
    [InlineData("output y = leaky_relu(x, slope = 0.1)", "SYM0211")]
    [InlineData("output y = mean(x)", "SYM0305")]
    public void Shape_and_argument_errors(string body, string code)
    {
        var c = Compiler.CompileText("t.sym", $"model M() {{\n input x: [4]\n {body}\n}}");
        Assert.Contains(c.Diagnostics, d => d.Code == code);
        Assert.Null(c.Program);
    }

    const string Overridable = """
        model M(width: int = 4, lr: float = 0.1, wide: bool = false) {
            input x: [3]
            layer f = Linear(3, width * 2)
            output y = f(x)
        }
        """;

    [Fact]
    public void Overrides_change_hyper_parameters_and_shapes()
    {
        var c = Ok(Overridable, new CompileOptions(new Dictionary<string, string> { ["width"] = "256", ["lr"] = "3", ["wide"] = "true" }));
        var m = c.Program!.Models[0];
        Assert.Equal(256L, m.HyperParameters["width"].AsInt());
        Assert.Equal(new Value.Float(3.0), m.HyperParameters["lr"]);
        Assert.True(m.HyperParameters["wide"].AsBool());
        Assert.Equal([512, 3], m.Layer("f").Parameter("weight").Shape);
        Assert.Equal(new HyperExpr.Binary("*", new HyperExpr.Hyper("width"), new HyperExpr.Literal(new Value.Int(2))), m.ArgExpressions["f"]["out"]);
    }

    [Theory]
    [InlineData("depth", "3", "SYM0205")]
    [InlineData("widht", "3", "SYM0205")]
    [InlineData("width", "wide", "SYM0206")]
    [InlineData("width", "2.5", "SYM0206")]
    [InlineData("wide", "1", "SYM0206")]
    public void Bad_overrides_are_errors(string name, string value, string code)
    {
        var c = Compiler.CompileText("t.sym", Overridable, new CompileOptions(new Dictionary<string, string> { [name] = value }));
        Assert.Contains(c.Diagnostics, d => d.Code == code && d.Level == Diagnostics.DiagnosticLevel.Error);
        if (name == "widht") Assert.Contains(c.Diagnostics, d => d.Message.EndsWith("did you mean 'width'?"));
        Assert.Null(c.Program);
    }

    [Fact]
    public void For_blocks_unroll_with_indexed_names()
    {
        var c = Ok("""
            model D(n: int = 4) {
                input x: [2]
                layer first = Linear(2, 3)
                h[0] = relu(first(x))
                for i in 1..n {
                    layer fc[i] = Linear(3, 3)
                    h[i] = relu(fc[i](h[i - 1]))
                }
                layer last = Linear(3, 1)
                output y = last(h[n])
            }
            """, new CompileOptions(new Dictionary<string, string> { ["n"] = "6" }));
        var m = c.Program!.Models[0];
        Assert.Equal(["first", "fc[1]", "fc[2]", "fc[3]", "fc[4]", "fc[5]", "fc[6]", "last"], m.Layers.Select(l => l.Name));
        Assert.Equal("fc[6].weight", m.Layer("fc[6]").Parameters[0].Name);
        var p = Sym(m, SymmetryKind.Permutation, "h[2]");
        Assert.Equal([("fc[2].weight", 0, ActionRole.Forward), ("fc[2].bias", 0, ActionRole.Forward), ("fc[3].weight", 1, ActionRole.Inverse)], Actions(p));
        Assert.Equal(["n"], m.StructuralHyperParameters);
    }

    [Fact]
    public void Resource_guard_uses_the_option()
    {
        var src = "model M() {\n input x: [100]\n layer f = Linear(100, 100)\n output y = f(x)\n}";
        Assert.False(Compiler.CompileText("t.sym", src).HasErrors);
        var c = Compiler.CompileText("t.sym", src, new CompileOptions(MaxParameterBytes: 40_000));
        Assert.Equal("SYM0601", Assert.Single(c.Diagnostics).Code); // 10,100 params * 4 bytes = 40,400 > 40,000
    }

    [Fact]
    public void Data_paths_resolve_against_the_source_folder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-test");
        var c = Compiler.CompileText(Path.Combine(dir, "w.sym"), """
            model W() {
                input x: [13]
                layer f = Linear(13, 3)
                output logits = f(x)
            }
            train W {
                data csv(path = "data/wine.csv", label = "class")
                loss cross_entropy(logits, label)
                optimizer adam
            }
            """);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var t = c.Program!.Trains[0];
        Assert.Equal(Path.GetFullPath(Path.Combine(dir, "data", "wine.csv")), t.Data.Args["path"].AsText());
        Assert.Equal((0.001, 0.0), (t.Optimizer.Args["lr"].AsDouble(), t.Optimizer.Args["weight_decay"].AsDouble()));
        Assert.Equal(10, t.Epochs);
    }

    [Fact]
    public void Diagnostics_print_as_file_line_col()
    {
        var c = Compiler.CompileText("dir/m.sym", "model M() {\n  input x: [4]\n  output y = relu(z)\n}");
        Assert.Equal("dir/m.sym:3:19: error SYM0202: 'z' is not defined", Assert.Single(c.Diagnostics).ToString());
    }

    [Fact]
    public void Train_settings_defaults_and_expressions()
    {
        var c = Ok("""
            model R(width: int = 64) {
                input x: [8]
                layer a = Linear(8, width, bias = false)
                layer b = Linear(width, 8, bias = false)
                h = a(x)
                output y = b(h)
                symmetry rot : rotation(h)
            }
            train R {
                data lowrank_regression(8, 2, 256)
                loss mse(y, target)
                optimizer sgd
                schedule step(every = 100)
                batch width / 2
                steps 500
                log 5
                checkpoint every 100 steps
                break syre_diag on rot
                diagnose rank(h), balance(rot), rank(a.weight) every 25 steps
                diagnose alignment(h)
                induce lowrank on b.weight
            }
            """);
        var t = c.Program!.Trains[0];
        Assert.Equal((32, (int?)null, (int?)500, 0L, 5, (int?)100), (t.Batch, t.Epochs, t.Steps, t.Seed, t.LogEvery, t.CheckpointEvery));
        Assert.Equal(("step", 100L, 0.1), (t.Schedule!.Kind, t.Schedule.Args["every"].AsInt(), t.Schedule.Args["gamma"].AsDouble()));
        Assert.Equal((1.0, 0.5, 0.0, 0.2), (t.Data.Args["top"].AsDouble(), t.Data.Args["ratio"].AsDouble(), t.Data.Args["noise"].AsDouble(), t.Data.Args["test_fraction"].AsDouble()));
        var b = Assert.Single(t.Breaks);
        Assert.Equal(("syre_diag", 0.1, 1e-4), (b.Method, b.Args["sigma"].AsDouble(), b.Args["decay"].AsDouble()));
        Assert.Equal(["a.weight", "b.weight"], b.Parameters);
        Assert.Equal([("rank(h)", "site", 25), ("balance(rot)", "symmetry", 25), ("rank(a.weight)", "parameter", 25), ("alignment(h)", "site", 5)],
            t.Diagnostics.Select(d => (d.Key, d.TargetKinds[0], d.Every)));
        Assert.Equal(("lowrank", "b.weight"), (t.Induces[0].Structure, t.Induces[0].Parameter));
    }

    [Fact]
    public void Loss_and_input_binding_errors()
    {
        const string model = """
            model M() {
                input z: [64]
                layer f = Linear(64, 3)
                output logits = f(z)
            }
            """;
        var c = Compiler.CompileText("t.sym", model + "train M { data digits() loss cross_entropy(logits, label) optimizer sgd }");
        Assert.Equal(["SYM0508", "SYM0518"], c.Diagnostics.Where(d => d.Level == Diagnostics.DiagnosticLevel.Error).Select(d => d.Code).Order());
        var mse = Compiler.CompileText("t.sym", model + "train M { data digits() loss mse(logits, label) optimizer sgd }");
        Assert.Contains(mse.Diagnostics, d => d.Code == "SYM0518" && d.Message.Contains("class label"));
        var missing = Compiler.CompileText("t.sym", model + "train M { batch 4 }");
        Assert.Equal(["SYM0503", "SYM0503", "SYM0503"], missing.Diagnostics.Where(d => d.Level == Diagnostics.DiagnosticLevel.Error).Select(d => d.Code));
    }

    [Fact]
    public void Several_models_and_train_blocks_share_a_file()
    {
        var c = Ok("""
            model A(width: int = 8) {
                input x: [64]
                layer f = Linear(64, width)
                layer g = Linear(width, 10)
                h = sin(f(x))
                output logits = g(h)
            }
            model B(width: int = 4) {
                input x: [10]
                layer f = Linear(10, width)
                output y = f(x)
            }
            train A { data digits() loss cross_entropy(logits, label) optimizer sgd epochs 1 }
            train A { data digits(test_fraction = 0.5) loss cross_entropy(logits, label) optimizer adam steps 10 }
            train B { data teacher(d_in = 10, d_out = width) loss mse(y, target) optimizer adamw }
            """, new CompileOptions(new Dictionary<string, string> { ["width"] = "16" }));
        var p = c.Program!;
        Assert.Equal(["A", "B"], p.Models.Select(m => m.Name));
        Assert.All(p.Models, m => Assert.Equal(16L, m.HyperParameters["width"].AsInt()));
        Assert.Equal(["A", "A", "B"], p.Trains.Select(t => t.Model));
        Assert.Equal(0.01, p.Trains[2].Optimizer.Args["weight_decay"].AsDouble());
        Assert.Equal(["permutation(h)", "sign(h)", "translation(logits)"], p.Model("A").Symmetries.Select(s => s.Name).Order());
        Assert.Empty(p.Model("B").Symmetries); // y is an output fed to mse: no translation
    }
}
