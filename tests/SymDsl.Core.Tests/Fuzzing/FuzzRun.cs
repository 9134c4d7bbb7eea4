using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SymDsl.Emit;

namespace SymDsl.Core.Tests.Fuzzing;

/// <summary>The oracle's checks that need no state.</summary>
public static class FuzzOracle
{
    /// <summary>True when the lexer meets a character it cannot read outside comments and strings.</summary>
    public static bool HasUnreadableCharacter(string text)
    {
        var lexer = new Grammar.SymLexer(new Antlr4.Runtime.AntlrInputStream(text));
        lexer.RemoveErrorListeners();
        for (var t = lexer.NextToken(); t.Type != Antlr4.Runtime.TokenConstants.EOF; t = lexer.NextToken())
            if (t.Type == Grammar.SymLexer.ERROR_CHAR) return true;
        return false;
    }

    static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return tpa.Where(p => Path.GetFileName(p).StartsWith("System") || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Append(typeof(TorchSharp.torch).Assembly.Location)
            .Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray();
    });

    /// <summary>Compiles generated modules against TorchSharp.dll (metadata only): null when they compile.</summary>
    public static string? CheckCompiles(IEnumerable<(string Name, string Text)> files)
    {
        var trees = files.Where(f => f.Name.EndsWith(".cs", StringComparison.Ordinal))
            .Select(f => CSharpSyntaxTree.ParseText(f.Text, new CSharpParseOptions(LanguageVersion.Latest), path: f.Name)).ToList();
        var compilation = CSharpCompilation.Create("Fuzz", trees, References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(3).ToList();
        return errors.Count == 0 ? null : "generated C# does not compile: " + string.Join("; ", errors);
    }

    /// <summary>Checks the artifacts of <c>symc build</c> (the same <see cref="BuildArtifacts.Render"/> that it writes): null when sound.</summary>
    public static string? CheckBuild(Compilation c, bool compile = false)
    {
        var files = BuildArtifacts.Render(c);
        var expected = 2 + c.Program!.Models.Count;
        if (files.Count != expected) return $"build rendered {files.Count} files, expected {expected}";
        if (files.Select(f => f.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count() != files.Count)
            return "build artifacts share a file name: " + string.Join(", ", files.Select(f => f.Name));
        foreach (var (name, text) in files)
        {
            if (string.IsNullOrWhiteSpace(text)) return $"{name} is empty";
            if (name.EndsWith(".json", StringComparison.Ordinal))
            {
                try { using var _ = System.Text.Json.JsonDocument.Parse(text); }
                catch (System.Text.Json.JsonException e) { return $"{name} is not JSON: {e.Message}"; }
            }
            else if (name.EndsWith(".cs", StringComparison.Ordinal))
            {
                var tree = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Latest));
                var errors = tree.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(3).ToList();
                if (errors.Count > 0) return $"{name} has C# syntax errors: {string.Join("; ", errors)}";
            }
        }
        return compile ? CheckCompiles(files) : null;
    }
}

/// <summary>
/// One fuzzing run: a mix of generated-valid programs, generated programs with one known-invalid edit, and mutations
/// (token deletion/swap/duplication, truncation, byte noise) of the examples, the baselines and generated programs.
/// Every input goes through <see cref="Compiler.CompileText"/> with a 5 s watchdog; valid ones through the build too.
/// </summary>
public sealed class FuzzRun(int seed, IReadOnlyList<string> corpus, Func<string, Random, string> mutate)
{
    public static readonly TimeSpan HangCap = TimeSpan.FromSeconds(5);

    /// <summary>One in this many generated-valid programs has its C# compiled with Roslyn (about 0.3 s each).</summary>
    public int CompileEvery { get; init; } = 25;
    public int Compiled;

    public List<string> Failures { get; } = [];
    public int Inputs, ValidBuilt, FaultsCaught, Mutations, MutationsWithErrors, Crashes, Hangs, InternalErrors, Characters;
    public TimeSpan Slowest = TimeSpan.Zero, Total = TimeSpan.Zero;
    public string SlowestInput = "";
    public string SlowestKind = "";
    public long PeakWorkingSet;
    public readonly Dictionary<string, int> ErrorCodes = [];

    /// <summary>How many generated-valid programs contain each construct (the generator's coverage).</summary>
    public readonly Dictionary<string, int> Coverage = [];

    static readonly (string Name, Func<string, bool> Has)[] Constructs =
    [
        ("train block", t => t.Contains("train ")), ("symmetry", t => t.Contains("symmetry ")), ("break", t => t.Contains("break ")),
        ("diagnose", t => t.Contains("diagnose ")), ("induce", t => t.Contains("induce ")), ("for", t => t.Contains("for ")),
        ("nested for", t => System.Text.RegularExpressions.Regex.IsMatch(t, @"for \w+ in [^{]*\{\s*(//[^\n\r]*\s*)*for ")),
        ("for over 50", t => System.Text.RegularExpressions.Regex.IsMatch(t, @"in 1\.\.([5-9]\d|\d{3,}) ")),
        ("SelfAttention", t => t.Contains("SelfAttention(")), ("RNN", t => t.Contains("RNN(")), ("Embedding", t => t.Contains("Embedding(")),
        ("LayerNorm", t => t.Contains("LayerNorm(")), ("20+ nested parentheses", t => t.Contains(new string('(', 20))),
        ("100+ term chain", t => System.Text.RegularExpressions.Regex.IsMatch(t, @"(\s[-+*]\s\w+){100}")),
        ("name of 100+ characters", t => System.Text.RegularExpressions.Regex.IsMatch(t, @"\w{100}")),
        ("non-ASCII in comments/strings", t => t.Any(c => c > 127)), ("CR LF", t => t.Contains("\r\n")), ("CR only", t => t.Contains('\r') && !t.Contains("\r\n")),
        ("several models", t => t.IndexOf("model ", StringComparison.Ordinal) != t.LastIndexOf("model ", StringComparison.Ordinal)),
    ];

    public void Run(int count)
    {
        // Warm up (JIT, Roslyn) so that the slowest input is about the input.
        FuzzOracle.CheckBuild(Compiler.CompileText("warm.sym", "model W() { input x: [2] layer f = Linear(2, 2) output y = f(x) }"));
        var rng = new Random(seed);
        var generated = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var kind = i % 4;
            var itemSeed = rng.Next();
            var local = new Random(itemSeed);
            string text; IReadOnlyDictionary<string, string> set = new Dictionary<string, string>(); string? fault = null; string label;
            if (kind == 0)
            {
                var p = ProgramGenerator.Generate(local);
                text = p.Text; label = "valid";
                if (generated.Count < 64) generated.Add(text); else generated[local.Next(64)] = text;
            }
            else if (kind == 1)
            {
                var p = ProgramGenerator.Generate(local, faulty: true);
                text = p.Text; set = p.Overrides; fault = p.Fault; label = "fault";
            }
            else
            {
                var pool = kind == 2 || generated.Count == 0 ? corpus : generated;
                text = mutate(pool[local.Next(pool.Count)], local); label = "mutation";
            }
            Check(i, itemSeed, label, text, set, fault);
            if (Failures.Count >= 20) break;
        }
        PeakWorkingSet = Process.GetCurrentProcess().PeakWorkingSet64;
    }

    void Fail(int i, int itemSeed, string label, string what, string text, IReadOnlyDictionary<string, string> set)
        => Failures.Add($"input {i} ({label}, seed {itemSeed}): {what}{(set.Count > 0 ? $" [--set {string.Join(" ", set.Select(kv => kv.Key + "=" + kv.Value))}]" : "")}\n--- input ---\n{(text.Length > 4000 ? text[..4000] + "\n…" : text)}");

    void Check(int i, int itemSeed, string label, string text, IReadOnlyDictionary<string, string> set, string? fault)
    {
        Inputs++;
        Characters += text.Length;
        var watch = Stopwatch.StartNew();
        var task = Task.Run(() => Compiler.CompileText("fuzz.sym", text, new CompileOptions(set)));
        bool finished;
        try { finished = task.Wait(HangCap); }
        catch (AggregateException e)
        {
            Crashes++;
            Fail(i, itemSeed, label, $"CompileText threw {e.InnerException}", text, set);
            return;
        }
        if (!finished)
        {
            Hangs++;
            Fail(i, itemSeed, label, $"no result after {HangCap.TotalSeconds} s", text, set);
            return;
        }
        var c = task.Result;
        string? buildProblem = null;
        if (!c.HasErrors)
        {
            try { buildProblem = FuzzOracle.CheckBuild(c); }
            catch (Exception e) { Crashes++; buildProblem = $"build threw {e}"; }
        }
        watch.Stop();
        // Every program's artifacts are rendered and parsed (timed above); every CompileEvery-th valid one is also
        // compiled against TorchSharp (not timed: that is Roslyn's time).
        if (buildProblem is null && !c.HasErrors && label == "valid" && ValidBuilt % CompileEvery == 0)
        {
            Compiled++;
            buildProblem = FuzzOracle.CheckCompiles(BuildArtifacts.Render(c));
        }
        Total += watch.Elapsed;
        if (watch.Elapsed > Slowest) { Slowest = watch.Elapsed; SlowestInput = text; SlowestKind = label; }

        foreach (var d in c.Diagnostics.Where(d => d.Level == Diagnostics.DiagnosticLevel.Error))
            ErrorCodes[d.Code] = ErrorCodes.GetValueOrDefault(d.Code) + 1;
        if (c.Diagnostics.FirstOrDefault(d => d.Code == "SYM0001") is { } internalError)
        {
            InternalErrors++;
            Fail(i, itemSeed, label, internalError.ToString(), text, set);
            return;
        }
        if (c.HasErrors != (c.Program is null)) { Fail(i, itemSeed, label, "HasErrors disagrees with Program", text, set); return; }
        if (c.Diagnostics.Any(d => string.IsNullOrWhiteSpace(d.Message) || d.Message.Contains('\n') || d.Message.Contains('\r')))
        { Fail(i, itemSeed, label, "a diagnostic message is empty or spans lines", text, set); return; }
        if (buildProblem is not null) { Fail(i, itemSeed, label, buildProblem, text, set); return; }
        if (!c.HasErrors && FuzzOracle.HasUnreadableCharacter(text)) { Fail(i, itemSeed, label, "an unreadable character was accepted", text, set); return; }
        switch (label)
        {
            case "valid":
                if (c.HasErrors) Fail(i, itemSeed, label, "a generated-valid program has errors:\n" + string.Join("\n", c.Diagnostics.Where(d => d.Level == Diagnostics.DiagnosticLevel.Error).Take(5)), text, set);
                else
                {
                    ValidBuilt++;
                    foreach (var (name, has) in Constructs) if (has(text)) Coverage[name] = Coverage.GetValueOrDefault(name) + 1;
                }
                break;
            case "fault":
                if (!c.HasErrors) Fail(i, itemSeed, label, $"a known-invalid edit ({fault}) was accepted", text, set);
                else FaultsCaught++;
                break;
            default:
                Mutations++;
                if (c.HasErrors) MutationsWithErrors++;
                break;
        }
    }

    public string Summary()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"inputs {Inputs:N0} ({Characters / 1024.0 / 1024.0:0.0} MiB of source): {ValidBuilt:N0} generated-valid checked and built ({Compiled:N0} of them compiled with Roslyn against TorchSharp), {FaultsCaught:N0} known-invalid edits caught, {Mutations:N0} mutations ({MutationsWithErrors:N0} with errors)");
        sb.AppendLine(inv, $"failures {Failures.Count}: crashes {Crashes}, hangs over {HangCap.TotalSeconds:0} s {Hangs}, internal errors (SYM0001) {InternalErrors}");
        sb.AppendLine(inv, $"time {Total.TotalSeconds:0.0} s in compile+build, mean {(Inputs == 0 ? 0 : Total.TotalMilliseconds / Inputs):0.00} ms; slowest {Slowest.TotalMilliseconds:0} ms ({SlowestKind}, {SlowestInput.Length:N0} characters)");
        sb.AppendLine(inv, $"peak working set of the process {PeakWorkingSet / 1024.0 / 1024.0:0} MiB");
        sb.AppendLine("generated-valid programs with: " + string.Join(", ", Constructs.Select(c => $"{c.Name} {Coverage.GetValueOrDefault(c.Name):N0}")));
        sb.AppendLine("error codes: " + string.Join(", ", ErrorCodes.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:N0}")));
        return sb.ToString();
    }
}
