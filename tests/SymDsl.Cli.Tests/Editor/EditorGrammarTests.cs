using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Vocabulary;

namespace SymDsl.Cli.Tests.Editor;

/// <summary>
/// A test that needs editors/vscode/node_modules (installed by <c>.ci/editor</c>, which <c>.ci/run</c> calls). Without it a
/// developer's <c>dotnet test</c> skips with a message naming the script; under <c>.ci/run</c> (SYMDSL_CI=1) the test runs and
/// fails loudly when the install did not happen.
/// </summary>
public sealed class NpmFactAttribute : FactAttribute
{
    public NpmFactAttribute()
    {
        if (!File.Exists(EditorGrammarTests.Runner) && Environment.GetEnvironmentVariable("SYMDSL_CI") != "1")
            Skip = "editors/vscode/node_modules is missing: run `bash .ci/editor` (npm ci in editors/vscode) to run the grammar tests";
    }
}

/// <summary>The VS Code extension's TextMate grammar: its own tests (vscode-tmgrammar-test) and its coverage of the language's vocabulary.</summary>
public class EditorGrammarTests
{
    static readonly string Extension = Path.Combine(Paths.Root, "editors", "vscode");
    static readonly string Grammar = Path.Combine(Extension, "syntaxes", "sym.tmLanguage.json");
    internal static readonly string Runner = Path.Combine(Paths.Root, "editors", "vscode", "node_modules", "vscode-tmgrammar-test", "dist", "unit.js");

    static (int ExitCode, string Output) RunGrammarTests(string testGlob)
    {
        Assert.True(File.Exists(Runner), $"{Runner} is missing: `bash .ci/editor` (called by .ci/run) installs the npm packages of editors/vscode");
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Extension };
        foreach (var a in new[] { Runner, "-g", Grammar, testGlob }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }

    [NpmFact]
    public void The_grammar_passes_its_vscode_tmgrammar_tests()
    {
        var (code, output) = RunGrammarTests("test/**/*.sym");
        Assert.True(code == 0, output);
        foreach (var file in Directory.GetFiles(Path.Combine(Extension, "test"), "*.sym"))
            Assert.Contains($"✓ test/{Path.GetFileName(file)}", output);
    }

    [NpmFact]
    public void A_wrong_scope_assertion_fails_the_grammar_tests()
    {
        // The runner can fail: a layer kind asserted to be a comment.
        var dir = Symc.TempDir();
        var test = Path.Combine(dir, "wrong.sym");
        File.WriteAllText(test, "// SYNTAX TEST \"source.sym\" \"wrong\"\nmodel M {\n    layer fc = Linear(2, 2)\n//             ^^^^^^ comment.line.double-slash.sym\n}\n");
        var (code, output) = RunGrammarTests(test);
        Assert.True(code != 0, output);
        Assert.Contains("missing required scopes: comment.line.double-slash.sym", output);
    }

    static JsonObject Repository() => JsonNode.Parse(File.ReadAllText(Grammar))!["repository"]!.AsObject();

    static Regex Rule(string key) => new("^(?:" + (string)Repository()[key]!["match"]! + ")");

    /// <summary>Whether the grammar's rule <paramref name="key"/> scopes <paramref name="word"/> written as in <paramref name="context"/> (a format with {0}).</summary>
    static void Highlights(string key, IEnumerable<string> words, string context = "{0}(x)")
    {
        var rule = Rule(key);
        var missing = words.Where(w =>
        {
            var m = rule.Match(string.Format(context, w));
            return !(m.Success && (m.Value.Trim() == w || m.Groups.Count > 1 && m.Groups[1].Value == w));
        }).ToList();
        Assert.True(missing.Count == 0, $"editors/vscode/syntaxes/sym.tmLanguage.json, rule '{key}', does not highlight: {string.Join(", ", missing)}");
    }

    [Fact]
    public void The_grammar_highlights_every_word_of_the_vocabulary()
    {
        Highlights("layers", LayerDefinition.All.Select(d => d.Name));
        Highlights("symmetries", Enum.GetNames<SymmetryKind>().Select(n => n.ToLowerInvariant()));
        Highlights("functions", Functions.Names);
        Highlights("train-vocabulary", Losses.Names.Concat(Metrics.Names).Concat(Regularizers.Names).Concat(DataSourceDefinitions.Names)
            .Concat(TrainCatalog.Optimizers.Keys).Concat(TrainCatalog.Schedules.Keys).Concat(TrainCatalog.Induces.Keys));
        Highlights("settings", TrainCatalog.Settings, "    {0} x");
    }

    [Fact]
    public void The_grammar_highlights_every_keyword_of_the_parser()
    {
        // The lexer's keyword tokens (grammar/Sym.g4: `MODEL : 'model';`): each must be matched by some rule at its start.
        var keywords = Regex.Matches(File.ReadAllText(Path.Combine(Paths.Root, "grammar", "Sym.g4")), @"^[A-Z_]+\s*:\s*'([a-z]+)'\s*;", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("symmetry", keywords);
        var rules = Repository().Select(r => r.Value!).SelectMany(r => r["patterns"] is JsonArray a ? a.Select(p => p!) : [r])
            .Where(r => r["match"] is not null).Select(r => new Regex("^(?:" + (string)r["match"]! + ")")).ToList();
        var missing = keywords.Where(k => !rules.Any(r => r.Match(k + " x in y") is { Success: true } m && m.Length >= k.Length)).ToList();
        Assert.True(missing.Count == 0, $"keywords the grammar does not highlight: {string.Join(", ", missing)}");
    }
}
