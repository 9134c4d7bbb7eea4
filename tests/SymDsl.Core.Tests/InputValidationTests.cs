using SymDsl.Diagnostics;
using SymDsl.Semantics;
using SymDsl.IR;

namespace SymDsl.Core.Tests;

/// <summary>
/// Invalid input is never "ok": unreadable characters, line ends, number literals and non-finite values, the range
/// of every numeric argument, and the size of the file.
/// </summary>
public class InputValidationTests
{
    const string Valid = """
        model M(width: int = 4, dt: float = 0.5) {
            input x: [3]
            layer f = Linear(3, width)
            output y = f(x)
        }
        """;

    static Compilation Compile(string text, Dictionary<string, string>? set = null)
        => Compiler.CompileText("t.sym", text, set is null ? null : new CompileOptions(set));

    static Diagnostic Error(Compilation c, string code)
    {
        Assert.True(c.HasErrors);
        Assert.Null(c.Program);
        return Assert.Single(c.Diagnostics, d => d.Code == code);
    }

    [Theory]
    // The reported cases: two invalid characters before the first declaration, a non-ASCII model name, a non-ASCII site name.
    [InlineData("$$\nmodel M() { input x: [3] output y = x }", 1, 1, "'$$'")]
    [InlineData("model Ω() { input x: [3] output y = x }", 1, 7, "'Ω'")]
    [InlineData("model M() {\n  input x: [3]\n  output ç = x\n}", 3, 10, "'ç'")]
    [InlineData("model M() { input x: [3] output y = x }\n\u0000", 2, 1, "U+0000")]
    [InlineData("\ufeffmodel M() { input x: [3] output y = x }", 1, 1, "U+FEFF")] // a BOM inside the text (not at the start of a file read from disk)
    [InlineData("model M() { input x: [3] output y = x } 😀", 1, 41, "'😀'")]
    public void Every_unreadable_character_is_an_error_at_its_position(string text, int line, int column, string shown)
    {
        var d = Error(Compile(text), "SYM0102");
        Assert.Equal((line, column), (d.Span.Line, d.Span.Column));
        Assert.Equal($"unexpected character {shown}", d.Message);
    }

    [Fact]
    public void A_lone_surrogate_is_shown_as_its_code()
    {
        var d = Error(Compile("model M() { input x: [3] output y = x } " + '\ud800'), "SYM0102");
        Assert.Equal("unexpected character U+D800", d.Message);
    }

    [Fact]
    public void Each_run_of_unreadable_characters_is_reported_and_parsing_goes_on()
    {
        var c = Compile("model M() {\n  input x: [3] §\n  output y = x ¤¤\n  output z = undefined_name\n}");
        Assert.Equal([(2, 16), (3, 16)], c.Diagnostics.Where(d => d.Code == "SYM0102").Select(d => (d.Span.Line, d.Span.Column)));
        Assert.Equal(17, c.Diagnostics.Single(d => d.Span.Line == 3 && d.Code == "SYM0102").Span.EndColumn - 1);
        Assert.Contains(c.Diagnostics, d => d.Code == "SYM0202" && d.Span.Line == 4); // the checker still ran
        Assert.Null(c.Program);
    }

    [Fact]
    public void Unicode_in_comments_and_strings_is_fine()
    {
        var c = Compile("// Ω ç 😀\nmodel M() { /* ∀ */ input x: [3] output y = x }\ntrain M { data csv(\"dätä.csv\", label = \"λ\") loss mse(y, x) optimizer sgd }");
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0102");
    }

    [Fact]
    public void Long_runs_are_shortened_and_stay_on_one_line()
    {
        var d = Error(Compile(Valid + "\n" + new string('\u2028', 3) + new string('#', 50)), "SYM0102");
        Assert.Equal("unexpected character U+2028 U+2028 U+2028 '#####' … (53 characters)", d.Message);
        Assert.DoesNotContain('\n', d.ToString());
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public void LF_CRLF_and_CR_count_lines_and_columns_alike(string eol)
    {
        var text = string.Join(eol, "model M() {", "    input x: [3]", "  output y = undefined_name", "}", "// é", "  $");
        var c = Compile(text);
        Assert.Equal([("SYM0202", 3, 14), ("SYM0102", 6, 3)], c.Diagnostics.Select(d => (d.Code, d.Span.Line, d.Span.Column)));
    }

    [Fact]
    public void Line_ends_inside_a_block_comment_count_too()
    {
        foreach (var eol in new[] { "\n", "\r\n", "\r" })
        {
            var c = Compile($"/* a{eol}b{eol}c */ model M() {{ input x: [3] output y = x }} $");
            Assert.Equal((3, 46), (c.Diagnostics.Single().Span.Line, c.Diagnostics.Single().Span.Column));
        }
    }

    [Theory]
    [InlineData("model M(a: int = 99999999999999999999) { input x: [3] output y = x }", "SYM0104")]
    [InlineData("model M(a: float = 1e400) { input x: [3] output y = x }", "SYM0104")]
    [InlineData("model M(a: float = 1e308 * 10) { input x: [3] output y = x }", "SYM0220")]
    [InlineData("model M(a: float = -1e308 - 1e308) { input x: [3] output y = x }", "SYM0220")]
    [InlineData("model M() { input x: [3] output y = 1e308 * 10.0 * x }", "SYM0220")]
    public void Overflowing_literals_and_non_finite_values_are_errors(string text, string code)
        => Error(Compile(text), code);

    [Theory]
    [InlineData("dt", "NaN")]
    [InlineData("dt", "nan")]
    [InlineData("dt", "Infinity")]
    [InlineData("dt", "-Infinity")]
    [InlineData("dt", "∞")]
    [InlineData("dt", "1e400")]
    [InlineData("width", "99999999999999999999")]
    public void Non_finite_or_overflowing_overrides_are_errors(string name, string value)
    {
        var d = Error(Compile(Valid, new() { [name] = value }), "SYM0206");
        Assert.Contains($"'{value}' is not a valid", d.Message);
    }

    [Fact]
    public void Finite_overrides_pass()
    {
        var c = Compile(Valid, new() { ["dt"] = "-1e-300", ["width"] = "7" });
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
    }

    const string Net = """
        model M(w: int = 4) {
            input x: [8]
            layer fc = Linear(8, w)
            h = relu(fc(x))
            layer out = Linear(w, 2)
            output y = out(h)
            symmetry perm : permutation(h)
        }
        """;

    static string Train(string settings) => Net + "\ntrain M {\n    data teacher(d_in = 8, d_out = 2)\n    loss mse(y, target)\n" + settings + "\n}";

    [Theory]
    // Layers and functions: SYM0303 for sizes, SYM0211 for other arguments; at the argument.
    [InlineData("layer l = Linear(8, 0)", "SYM0303", "0")]
    [InlineData("layer l = Linear(-3, 2)", "SYM0303", "-3")]
    [InlineData("layer l = SelfAttention(8, 0)", "SYM0303", "0")]
    [InlineData("layer l = Linear(8, 3000000000)", "SYM0603", "3000000000")]
    [InlineData("layer l = LayerNorm(8, eps = -1e-5)", "SYM0211", "'eps' must be at least 0")]
    [InlineData("layer l = RNN(8, 4, dt = 0)", "SYM0211", "0")]
    [InlineData("layer l = RNN(8, 4, dt = -0.5)", "SYM0211", "-0.5")]
    [InlineData("layer l = Linear(8, 2, init = normal(-1))", "SYM0211", "-1")]
    [InlineData("layer l = Linear(8, 2, bias_init = uniform(a = -0.1))", "SYM0211", "-0.1")]
    [InlineData("layer l = Embedding(0, 4)", "SYM0303", "0")]
    public void Layer_arguments_out_of_range_are_errors_at_the_argument(string layer, string code, string value)
    {
        var text = $"model M() {{\n    input x: [8]\n    {layer}\n    output y = x\n}}";
        var d = Error(Compile(text), code);
        Assert.Equal(3, d.Span.Line);
        Assert.True(d.Span.Column > 15, d.ToString()); // the argument, not the statement
        if (code != "SYM0603") Assert.Contains(value, d.Message);
    }

    [Theory]
    [InlineData("optimizer sgd(lr = 0)", "'lr' must be positive, but is 0")]
    [InlineData("optimizer sgd(lr = -0.1)", "'lr' must be positive")]
    [InlineData("optimizer sgd(momentum = 1)", "'momentum' must be in [0, 1), but is 1")]
    [InlineData("optimizer sgd(momentum = -0.5)", "'momentum' must be in [0, 1)")]
    [InlineData("optimizer sgd(weight_decay = -1)", "'weight_decay' must be at least 0")]
    [InlineData("optimizer adam(beta1 = 1.0)", "'beta1' must be in [0, 1)")]
    [InlineData("optimizer adamw(beta2 = 1.5)", "'beta2' must be in [0, 1)")]
    [InlineData("optimizer sgd\n schedule step(every = 0)", "'every' must be a positive int")]
    [InlineData("optimizer sgd\n schedule step(10, gamma = 0)", "'gamma' must be positive")]
    [InlineData("optimizer sgd\n schedule cosine(min_lr = -1)", "'min_lr' must be at least 0")]
    [InlineData("optimizer sgd\n schedule warmup(steps = -5)", "'steps' must be a positive int")]
    [InlineData("optimizer sgd\n break syre(sigma = -0.1) on perm", "'sigma' must be at least 0")]
    [InlineData("optimizer sgd\n break perturb(decay = -1) on perm", "'decay' must be at least 0")]
    [InlineData("optimizer sgd\n diagnose duplicates(perm, threshold = 1.5)", "'threshold' must be in [0, 1]")]
    [InlineData("optimizer sgd\n diagnose collapse(perm, threshold = -1)", "'threshold'")] // collapse needs rescale: SYM0514, and the range
    [InlineData("optimizer sgd\n batch 0", "'batch' must be a positive int")]
    [InlineData("optimizer sgd\n epochs 0", "'epochs' must be a positive int")]
    [InlineData("optimizer sgd\n steps -1", "'steps' must be a positive int")]
    [InlineData("optimizer sgd\n log every 0 steps", "'log every' must be a positive int")]
    [InlineData("optimizer sgd\n checkpoint every -2 steps", "'checkpoint every' must be a positive int")]
    [InlineData("optimizer sgd\n diagnose rank(h) every 0 steps", "'every' must be a positive int")]
    [InlineData("optimizer sgd(lr = w * 1e308 * 1e10)", "not a finite number")]
    [InlineData("optimizer adam(eps = 0)", "'eps' must be positive, but is 0")]
    [InlineData("optimizer adamw(eps = -1e-8)", "'eps' must be positive")]
    [InlineData("optimizer sgd(nesterov = true)", "sgd: 'nesterov = true' needs a positive 'momentum'")]
    [InlineData("optimizer sgd(nesterov = 1)", "'nesterov'")]
    [InlineData("optimizer adam(nesterov = true)", "adam has no argument 'nesterov'")]
    [InlineData("optimizer sgd(eps = 1e-8)", "sgd has no argument 'eps'")]
    [InlineData("optimizer sgd\n schedule cosine(warmup = -1)", "'warmup' must be in [0, 2147483647]")]
    [InlineData("optimizer sgd\n schedule constant(warmup = 2.5)", "'warmup'")]
    [InlineData("optimizer sgd\n schedule warmup(steps = 5, warmup = 5)", "warmup has no argument 'warmup'")]
    [InlineData("optimizer sgd\n induce lowrank(rank = 0) on fc.weight", "'rank' must be a positive int")]
    [InlineData("optimizer sgd\n induce lowrank(rank = 5) on fc.weight", "induce lowrank: 'rank' 5 exceeds the full rank 4 of 'fc.weight' [4, 8]")]
    [InlineData("optimizer sgd\n induce sparsity(rank = 2) on fc.weight", "induce sparsity has no argument 'rank'")]
    public void Train_settings_out_of_range_are_errors(string settings, string message)
    {
        var c = Compile(Train(settings));
        Assert.True(c.HasErrors);
        Assert.Contains(c.Diagnostics, d => d.Level == DiagnosticLevel.Error && d.Message.Contains(message) && d.Span.Line > 8);
    }

    [Theory]
    [InlineData("data teacher(d_in = 8, d_out = 2, noise = -0.1)", "'noise' must be at least 0")]
    [InlineData("data teacher(d_in = 8, d_out = 2, samples = 0)", "'samples' must be a positive int")]
    [InlineData("data teacher(d_in = 8, d_out = 2, test_fraction = 1)", "'test_fraction' must be in [0, 1)")]
    [InlineData("data lowrank_regression(d = 2, rank = 1, samples = 10, ratio = 0)", "'ratio' must be in (0, 1]")]
    [InlineData("data lowrank_regression(d = 2, rank = 1, samples = 10, top = -1)", "'top' must be positive")]
    [InlineData("data csv(\"a.csv\", label = -1)", "'label' must be in [0, 2147483647]")]
    [InlineData("data lowrank_regression(d = 4, rank = 3, samples = 10, spectrum = [1, 0.5])", "lowrank_regression: 'spectrum' has 2 values but 'rank' is 3")]
    [InlineData("data lowrank_regression(d = 4, rank = 2, samples = 10, spectrum = [1, 0])", "'spectrum' item 2 must be positive")]
    public void Data_arguments_out_of_range_are_errors(string data, string message)
    {
        var c = Compile(Net + $"\ntrain M {{\n    {data}\n    loss mse(y, target)\n    optimizer sgd\n}}");
        Assert.Contains(c.Diagnostics, d => d.Code == "SYM0517" && d.Message.Contains(message) && d.Span.Line == 10);
    }

    [Theory]
    [InlineData("spectrum = 0.5", "lowrank_regression: 'spectrum' must be a list of numbers, but got the float 0.5")]
    [InlineData("spectrum = [1, \"a\"]", "lowrank_regression: 'spectrum' must be a list of numbers, but got the list [1, \"a\"]")]
    public void A_spectrum_that_is_not_a_list_of_numbers_is_an_error_at_its_line(string arg, string message)
    {
        var c = Compile(Net + $"\ntrain M {{\n    data lowrank_regression(d = 4, rank = 1, samples = 10, {arg})\n    loss mse(y, target)\n    optimizer sgd\n}}");
        Assert.Contains(c.Diagnostics, d => d.Code == "SYM0204" && d.Message == message && d.Span.Line == 10);
    }

    [Fact]
    public void A_spectrum_of_rank_values_compiles_to_floats()
    {
        var c = Compile("model M() {\n input x: [4]\n layer fc = Linear(4, 4)\n output y = fc(x)\n}\ntrain M {\n    data lowrank_regression(d = 4, rank = 3, samples = 10, spectrum = [2, 0.75, 0.5])\n    loss mse(y, target)\n    optimizer sgd\n}");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var spectrum = Assert.IsType<Value.List>(c.Program!.Trains[0].Data.Args["spectrum"]);
        Assert.Equal([2.0, 0.75, 0.5], spectrum.Items.Select(v => Assert.IsType<Value.Float>(v).V));
    }

    [Fact]
    public void In_range_values_at_the_edges_pass()
    {
        var c = Compile(Train("optimizer sgd(lr = 1e-300, momentum = 0, weight_decay = 0)\n schedule cosine(min_lr = 0)\n break syre(sigma = 0, decay = 0) on perm\n diagnose duplicates(perm, threshold = 1) every 1 steps\n batch 1\n epochs 1"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var e = Compile("model M() {\n input x: [8]\n layer n = LayerNorm(8, eps = 0)\n layer r = Linear(8, 8, init = normal(0))\n output y = r(n(x))\n}");
        Assert.False(e.HasErrors, string.Join("\n", e.Diagnostics));
    }

    [Fact]
    public void Warmup_eps_nesterov_and_induce_rank_reach_the_IR()
    {
        var c = Compile(Train("optimizer sgd(momentum = 0.9, nesterov = true)\n schedule cosine(min_lr = 0.001, warmup = 5)\n induce lowrank(rank = w / 2) on fc.weight\n induce sparsity() on out.weight\n steps 20"));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var t = c.Program!.Trains[0];
        Assert.True(t.Optimizer.Args["nesterov"].AsBool());
        Assert.Equal(5L, t.Schedule!.Args["warmup"].AsInt());
        Assert.Equal(("lowrank", 2L), (t.Induces[0].Structure, t.Induces[0].Args["rank"].AsInt()));
        Assert.Empty(t.Induces[1].Args);
        var adam = Compile(Train("optimizer adamw(eps = 1e-6)\n schedule step(every = 10, warmup = 3)\n induce lowrank on fc.weight")).Program!.Trains[0];
        Assert.Equal(1e-6, adam.Optimizer.Args["eps"].AsDouble());
        Assert.Equal(3L, adam.Schedule!.Args["warmup"].AsInt());
        Assert.Empty(adam.Induces[0].Args); // no rank: full rank, min(m, n), at run time
        // Defaults are filled in: eps 1e-8, nesterov false, warmup 0.
        var defaults = Compile(Train("optimizer adam\n schedule constant")).Program!.Trains[0];
        Assert.Equal(1e-8, defaults.Optimizer.Args["eps"].AsDouble());
        Assert.Equal(0L, defaults.Schedule!.Args["warmup"].AsInt());
        Assert.False(Compile(Train("optimizer sgd")).Program!.Trains[0].Optimizer.Args["nesterov"].AsBool());
    }

    /// <summary>Every default of every argument lies in its own range: the range sits beside the default, and both are checked.</summary>
    [Fact]
    public void Every_default_lies_in_its_range()
    {
        var signatures = new List<(string, IReadOnlyList<ArgSpec>)>();
        foreach (var definition in Vocabulary.LayerDefinition.All) signatures.Add((definition.Name, definition.Signature));
        foreach (var f in Vocabulary.Functions.All) signatures.Add((f.Name, f.Arguments));
        foreach (var (k, v) in ArgBinder.InitSignatures) signatures.Add((k, v));
        foreach (var (k, v) in TrainCatalog.DataSources) signatures.Add((k, v));
        foreach (var (k, v) in TrainCatalog.Optimizers) signatures.Add((k, v));
        foreach (var (k, v) in TrainCatalog.Schedules) signatures.Add((k, v));
        foreach (var (k, v) in TrainCatalog.BreakMethods) signatures.Add((k, v.Args));
        foreach (var (k, v) in TrainCatalog.Metrics) signatures.Add((k, v.Args));
        var ranged = 0;
        foreach (var (what, sig) in signatures)
            foreach (var spec in sig)
            {
                if (spec.Type is ArgType.Int or ArgType.Float && spec.Name is not ("dim" or "negative_slope"))
                    Assert.True(spec.Range is not null, $"{what}: '{spec.Name}' has no range");
                if (spec.Range is null) continue;
                ranged++;
                if (spec.Default is IR.Value.Int or IR.Value.Float)
                    Assert.True(spec.Range.Contains(spec.Default.AsDouble()), $"{what}: the default of '{spec.Name}' is outside {spec.Range.Describe()}");
            }
        Assert.True(ranged > 40, $"only {ranged} ranged arguments");
    }

    [Fact]
    public void Domain_edges()
    {
        Assert.False(Domain.Positive.Contains(0));
        Assert.True(Domain.NonNegative.Contains(0));
        Assert.False(Domain.UnitInterval.Contains(1));
        Assert.True(Domain.Probability.Contains(1));
        Assert.False(Domain.Ratio.Contains(0));
        Assert.False(Domain.NonNegative.Contains(double.NaN));
        Assert.False(Domain.NonNegative.Contains(double.PositiveInfinity));
        Assert.Equal("in [0, 1)", Domain.UnitInterval.Describe());
    }

    [Fact]
    public void A_file_over_the_size_limit_is_refused_before_it_is_read()
    {
        var dir = Directory.CreateTempSubdirectory("symdsl-size-");
        try
        {
            var path = Path.Combine(dir.FullName, "big.sym");
            using (var f = new FileStream(path, FileMode.Create)) f.SetLength(50L << 20); // 50 MB of zeros, sparse on disk
            var before = GC.GetTotalAllocatedBytes();
            var c = Compiler.CompileFile(path);
            var allocated = GC.GetTotalAllocatedBytes() - before;
            var d = Assert.Single(c.Diagnostics);
            Assert.Equal("SYM0605", d.Code);
            Assert.StartsWith(path + ": error SYM0605: the file is larger than 8,388,608 bytes", d.ToString());
            Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated to refuse it");

            // At the limit it is read (one comment: fast to lex).
            File.WriteAllText(path, "/*" + new string('a', Parsing.Parser.MaxSourceChars - 4) + "*/");
            Assert.Equal(Parsing.Parser.MaxSourceChars, new FileInfo(path).Length);
            Assert.Empty(Compiler.CompileFile(path).Diagnostics);

            // More tokens than the limit: the lexer stops there.
            File.WriteAllText(path, string.Concat(Enumerable.Repeat("a ", Parsing.Parser.MaxTokens / 2 + 1)));
            Assert.Equal("SYM0604", Assert.Single(Compiler.CompileFile(path).Diagnostics).Code);

            // Below the token limit, each run of NULs is reported, up to the cap.
            File.WriteAllText(path, string.Concat(Enumerable.Repeat("\0 ", 5000)));
            var nuls = Compiler.CompileFile(path);
            Assert.Equal(Parsing.Parser.MaxUnreadableReports, nuls.Diagnostics.Count(x => x.Code == "SYM0102"));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Text_over_the_size_limit_is_refused_without_lexing()
    {
        var c = Compiler.CompileText("t.sym", new string(' ', Parsing.Parser.MaxSourceChars + 1));
        Assert.Equal("SYM0605", Assert.Single(c.Diagnostics).Code);
    }

    [Fact]
    public void Random_bytes_are_never_ok()
    {
        var rng = new Random(12);
        var dir = Directory.CreateTempSubdirectory("symdsl-bytes-");
        try
        {
            for (int i = 0; i < 100; i++)
            {
                var bytes = new byte[16 + rng.Next(2000)];
                rng.NextBytes(bytes);
                var path = Path.Combine(dir.FullName, $"r{i}.sym");
                File.WriteAllBytes(path, bytes);
                var c = Compiler.CompileFile(path);
                Assert.True(c.HasErrors, $"random file {i} ({bytes.Length} bytes) checked without errors");
                Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0001");
            }
        }
        finally { dir.Delete(true); }
    }
}
