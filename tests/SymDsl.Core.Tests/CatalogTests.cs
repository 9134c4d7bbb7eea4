using System.Reflection;
using System.Text.RegularExpressions;
using SymDsl.Diagnostics;

namespace SymDsl.Core.Tests;

public class CatalogTests
{
    static List<string> CatalogCodes()
    {
        var source = File.ReadAllText(Path.Combine(Paths.Root, "src", "SymDsl.Core", "Diagnostics", "DiagnosticCatalog.cs"));
        return Regex.Matches(source, "\"(SYM\\d{4})\"").Select(m => m.Groups[1].Value).ToList();
    }

    /// <summary>The catalog's public methods, from its source: name → body (every one is an expression-bodied one-liner).</summary>
    static Dictionary<string, string> CatalogMethods()
    {
        var source = File.ReadAllText(Path.Combine(Paths.Root, "src", "SymDsl.Core", "Diagnostics", "DiagnosticCatalog.cs"));
        return Regex.Matches(source, @"public static Diagnostic (\w+)\([^\n]*?\) =>\s*([^\n]+)").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
    }

    /// <summary>
    /// One method per code (the one that names the code and fixes its level), and every other method — a message with
    /// its own wording — words it through exactly one such method, so a code keeps one level and one meaning.
    /// </summary>
    [Fact]
    public void Every_code_is_defined_once_and_has_one_method()
    {
        var codes = CatalogCodes();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        var methods = typeof(DiagnosticCatalog).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.ReturnType == typeof(Diagnostic)).ToList();
        var bodies = CatalogMethods();
        Assert.Equal(methods.Count, bodies.Count); // every method was read from the source
        var defining = bodies.Where(kv => Regex.IsMatch(kv.Value, "\"SYM\\d{4}\"")).Select(kv => kv.Key).ToHashSet();
        Assert.Equal(codes.Count, defining.Count);
        foreach (var (name, body) in bodies.Where(kv => !defining.Contains(kv.Key)))
            Assert.True(Regex.Match(body, @"^(\w+)\(") is { Success: true } m && defining.Contains(m.Groups[1].Value),
                $"{name} neither names a code nor words its message through the method of one: {body}");
    }

    [Fact]
    public void Every_code_is_documented_in_the_language_reference()
    {
        var doc = File.ReadAllText(Path.Combine(Paths.Root, "docs", "language.md"));
        var missing = CatalogCodes().Where(c => !doc.Contains($"| {c} |")).ToList();
        Assert.True(missing.Count == 0, "undocumented codes: " + string.Join(", ", missing));
    }

    /// <summary>
    /// The catch-all methods of codes that word many messages are called only from the catalog: each message has its
    /// own method there, so its text is written once. (SyntaxError, SymmetryTarget, InputBinding and LossShape still
    /// take their text from the stage that finds the problem.)
    /// </summary>
    [Fact]
    public void Catch_all_methods_are_used_only_by_the_catalog()
    {
        string[] catchAll = ["BadArgument", "BadSetting", "BreakTarget", "MetricTarget", "InduceTarget"];
        var sources = Directory.EnumerateFiles(Path.Combine(Paths.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")
                && Path.GetFileName(f) != "DiagnosticCatalog.cs")
            .ToList();
        Assert.NotEmpty(sources);
        var uses = sources.SelectMany(f => Regex.Matches(File.ReadAllText(f), @"DiagnosticCatalog\.(\w+)\b").Select(m => (File: Path.GetFileName(f), Method: m.Groups[1].Value))).ToList();
        Assert.Contains(uses, u => u.Method == "NoSuchArgument"); // the scan sees the checker's calls
        Assert.Empty(uses.Where(u => catchAll.Contains(u.Method)).Select(u => $"{u.File}: {u.Method}"));
    }
}
