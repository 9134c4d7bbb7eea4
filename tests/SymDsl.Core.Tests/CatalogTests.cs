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

    [Fact]
    public void Every_code_is_defined_once_and_has_one_method()
    {
        var codes = CatalogCodes();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        var methods = typeof(DiagnosticCatalog).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.ReturnType == typeof(Diagnostic)).ToList();
        Assert.Equal(codes.Count, methods.Count);
    }

    [Fact]
    public void Every_code_is_documented_in_the_language_reference()
    {
        var doc = File.ReadAllText(Path.Combine(Paths.Root, "docs", "language.md"));
        var missing = CatalogCodes().Where(c => !doc.Contains($"| {c} |")).ToList();
        Assert.True(missing.Count == 0, "undocumented codes: " + string.Join(", ", missing));
    }
}
