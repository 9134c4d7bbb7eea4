using System.Diagnostics;
using System.Text;

namespace SymDsl.Core.Tests;

/// <summary>
/// Seeded mutations of the examples and baselines (token deletions, swaps, duplications, truncations, random bytes):
/// CompileText never throws, never reports an internal error (SYM0001), finishes each input quickly, and never accepts
/// an unreadable character. Grammar-aware generation (Fuzzing/ProgramGenerator.cs) with an oracle (Fuzzing/FuzzRun.cs):
/// generated-valid programs check and build, known-invalid edits are errors; bench/fuzz runs it at 100,000 inputs.
/// </summary>
public class FuzzTests
{
    const int Runs = 3000;
    static readonly TimeSpan PerInputCap = TimeSpan.FromSeconds(5);

    static List<string> Corpus()
    {
        var files = Directory.GetFiles(Baselines.Folder, "main.sym", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(Paths.Root, "examples"), "*.sym"))
            .Order(StringComparer.Ordinal);
        return files.Select(File.ReadAllText).ToList();
    }

    static readonly string[] Vocabulary =
    [
        "model", "input", "layer", "output", "symmetry", "for", "in", "train", "break", "diagnose", "induce", "on", "every",
        "(", ")", "{", "}", "[", "]", ",", ":", "=", "..", ".", "*", "+", "-", "/", "%", "0", "1", "-1", "99999999999", "1e308",
        "\"", "\"s\"", "/*", "*/", "//", "\n", "x", "h", "fc1", "relu", "Linear", "SelfAttention", "RNN", "permutation", "rescale",
        "rotation(attn.qk)", "h[i-1]", "for i in 0..100000000 {", "Linear(100000000, 100000000)", "steps", "digits()", "syre",
    ];

    internal static string Mutate(string source, Random rng)
    {
        var tokens = Tokenize(source);
        var rounds = 1 + rng.Next(6);
        for (var r = 0; r < rounds && tokens.Count > 0; r++)
        {
            var i = rng.Next(tokens.Count);
            switch (rng.Next(7))
            {
                case 0: tokens.RemoveAt(i); break;
                case 1: var j = rng.Next(tokens.Count); (tokens[i], tokens[j]) = (tokens[j], tokens[i]); break;
                case 2: tokens.Insert(i, tokens[rng.Next(tokens.Count)]); break;
                case 3: tokens.RemoveRange(i, tokens.Count - i); break;
                case 4: tokens.Insert(i, Vocabulary[rng.Next(Vocabulary.Length)]); break;
                case 5:
                    var bytes = new byte[1 + rng.Next(8)];
                    rng.NextBytes(bytes);
                    tokens.Insert(i, Encoding.Latin1.GetString(bytes));
                    break;
                default:
                    var from = rng.Next(tokens.Count);
                    tokens.InsertRange(i, tokens.Skip(from).Take(1 + rng.Next(20)).ToList());
                    break;
            }
        }
        return string.Concat(tokens);
    }

    /// <summary>Splits into words, runs of whitespace and single punctuation characters (concatenation restores the text).</summary>
    static List<string> Tokenize(string s)
    {
        var list = new List<string>();
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            if (char.IsLetterOrDigit(s[i]) || s[i] == '_') while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] == '_' || s[i] == '.')) i++;
            else if (char.IsWhiteSpace(s[i])) while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            else i++;
            list.Add(s[start..i]);
        }
        return list;
    }

    [Fact]
    public void Mutated_sources_never_throw_or_hang()
    {
        var corpus = Corpus();
        Assert.NotEmpty(corpus);
        var rng = new Random(20261123);
        var slowest = TimeSpan.Zero;
        var withErrors = 0;
        for (var run = 0; run < Runs; run++)
        {
            var text = Mutate(corpus[rng.Next(corpus.Count)], rng);
            var watch = Stopwatch.StartNew();
            Compilation c;
            try { c = Compiler.CompileText("fuzz.sym", text); }
            catch (Exception e) { Assert.Fail($"run {run}: CompileText threw {e}\n--- input ---\n{text}"); return; }
            watch.Stop();
            if (watch.Elapsed > slowest) slowest = watch.Elapsed;
            Assert.True(watch.Elapsed < PerInputCap, $"run {run} took {watch.Elapsed}\n--- input ---\n{text}");
            var internalError = c.Diagnostics.FirstOrDefault(d => d.Code == "SYM0001");
            Assert.True(internalError is null, $"run {run}: {internalError}\n--- input ---\n{text}");
            Assert.Equal(c.HasErrors, c.Program is null);
            // An unreadable character outside comments and strings is always an error.
            Assert.True(c.HasErrors || !Fuzzing.FuzzOracle.HasUnreadableCharacter(text), $"run {run}: an unreadable character was accepted\n--- input ---\n{text}");
            if (c.HasErrors) withErrors++;
            foreach (var d in c.Diagnostics) Assert.False(string.IsNullOrWhiteSpace(d.Message));
        }
        // The mutations must actually exercise the error paths.
        Assert.True(withErrors > Runs / 2, $"only {withErrors} of {Runs} mutated inputs had errors");
    }

    /// <summary>
    /// Generated programs (valid by construction) check without errors and build (IR JSON, C#, report); generated
    /// programs with one known-invalid edit get an error; mutations of either never crash, hang or report SYM0001.
    /// SYMDSL_FUZZ_COUNT sets the number of inputs (bench/fuzz.sh runs 100,000); SYMDSL_FUZZ_REPORT a file for the summary.
    /// </summary>
    [Fact]
    public void Generated_and_mutated_programs_meet_the_oracle()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("SYMDSL_FUZZ_COUNT"), out var n) && n > 0 ? n : 1200;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SYMDSL_FUZZ_SEED"), out var sd) ? sd : 4242;
        var run = new Fuzzing.FuzzRun(seed, Corpus(), Mutate);
        run.Run(count);
        var summary = run.Summary();
        if (Environment.GetEnvironmentVariable("SYMDSL_FUZZ_REPORT") is { Length: > 0 } report)
        {
            File.WriteAllText(report, summary + string.Concat(run.Failures.Take(20).Select(f => "\n" + f + "\n")));
            File.WriteAllText(report + ".slowest.sym", run.SlowestInput);
        }
        Assert.True(run.Failures.Count == 0, summary + "\n\n" + string.Join("\n\n", run.Failures.Take(5)));
        // The generator must reach the interesting places.
        Assert.True(run.ValidBuilt >= count / 4 - 1, summary);
        Assert.True(run.FaultsCaught >= count / 4 - 1, summary);
    }

    [Theory]
    [InlineData("")]
    [InlineData("model")]
    [InlineData("model M(")]
    [InlineData("/* unterminated")]
    [InlineData("\"unterminated")]
    [InlineData("\0\u0001\uffff")]
    [InlineData("model M() { for i in 0..9223372036854775807 { h[i] = x } }")]
    [InlineData("model M(a: int = 9223372036854775807 * 2) { input x: [a] }")]
    [InlineData("model M() { input x: [99999999999] output y = x }")]
    [InlineData("model M() { input x: [1 / 0] }")]
    [InlineData("train { data }")]
    public void Pathological_inputs_are_diagnosed(string text)
        => Assert.DoesNotContain(Compiler.CompileText("p.sym", text).Diagnostics, d => d.Code == "SYM0001");

    [Fact]
    public void Deep_nesting_and_long_chains_do_not_overflow_the_stack()
    {
        var nested = "model M() { input x: [4] output y = " + new string('(', 100_000) + "x" + new string(')', 100_000) + " }";
        Assert.Contains(Compiler.CompileText("n.sym", nested).Diagnostics, d => d.Code == "SYM0103");
        var chain = "model M() { input x: [4] output y = x" + string.Concat(Enumerable.Repeat(" + x", 20_000)) + " }";
        var c = Compiler.CompileText("c.sym", chain);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(20_001, c.Program!.Models[0].Nodes.Count);
    }

    [Fact]
    public void A_directory_is_a_diagnostic_that_says_so()
    {
        var dir = Directory.CreateTempSubdirectory("symdsl-dir-");
        try { Assert.Equal("cannot read the source file: it is a directory", Assert.Single(Compiler.CompileFile(dir.FullName).Diagnostics).Message); }
        finally { dir.Delete(); }
    }

    [Fact]
    public void Missing_file_is_a_diagnostic_not_an_exception()
    {
        var c = Compiler.CompileFile(Path.Combine(Path.GetTempPath(), "does-not-exist-" + Guid.NewGuid() + ".sym"));
        var d = Assert.Single(c.Diagnostics);
        Assert.Equal("SYM0002", d.Code);
        Assert.True(d.Span.IsNone);
        Assert.Null(c.Program);
        Assert.StartsWith(c.Path + ": error SYM0002: ", d.ToString());
    }
}
