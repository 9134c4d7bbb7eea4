using System.Text;
using SymDsl.Diagnostics;
using SymDsl.Emit;

namespace SymDsl.Core.Tests;

/// <summary>
/// Bicep-style baselines: each folder under Baselines/ holds main.sym and its expected outputs —
/// main.diagnostics.sym (the source with each diagnostic annotated under its line), main.ir.json and &lt;Model&gt;.g.cs
/// (valid samples only). Set SYMDSL_UPDATE_BASELINES=1 to regenerate them.
/// </summary>
public static class Baselines
{
    public const string UpdateVariable = "SYMDSL_UPDATE_BASELINES";
    public static string Folder => Path.Combine(Paths.Root, "tests", "SymDsl.Core.Tests", "Baselines");
    public static bool Updating => Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    public static IEnumerable<object[]> All() => Directory.GetDirectories(Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).Select(n => new object[] { n! });
    public static IEnumerable<object[]> Valid() => All().Where(n => !((string)n[0]).StartsWith("Invalid"));

    /// <summary>Compiles a sample as "main.sym" so that printed locations do not depend on the machine.</summary>
    public static Compilation Compile(string name) => Compiler.CompileText("main.sym", Source(name));

    public static string Source(string name) => File.ReadAllText(Path.Combine(Folder, name, "main.sym")).Replace("\r\n", "\n");

    public static string Annotate(string source, IReadOnlyList<Diagnostic> diagnostics)
    {
        var sb = new StringBuilder();
        foreach (var d in diagnostics.Where(d => d.Span.IsNone)) sb.Append(Line(d)).Append('\n');
        var lines = source.Split('\n');
        if (lines.Length > 0 && lines[^1].Length == 0) lines = lines[..^1];
        for (var i = 0; i < lines.Length; i++)
        {
            sb.Append(lines[i]).Append('\n');
            foreach (var d in diagnostics.Where(d => d.Span.Line == i + 1)) sb.Append(Line(d)).Append('\n');
        }
        foreach (var d in diagnostics.Where(d => d.Span.Line > lines.Length)) sb.Append(Line(d)).Append('\n');
        return sb.ToString();
    }

    static string Line(Diagnostic d) => d.Span.IsNone
        ? $"//@[file) {d.LevelText} {d.Code}: {d.Message}"
        : $"//@[{d.Span.Line}:{d.Span.Column}) {d.LevelText} {d.Code}: {d.Message}";

    /// <summary>Compares (or, when updating, writes) one expected file.</summary>
    public static void Check(string sample, string file, string actual)
    {
        var path = Path.Combine(Folder, sample, file);
        if (Updating) { File.WriteAllText(path, actual); return; }
        var expected = File.Exists(path) ? File.ReadAllText(path).Replace("\r\n", "\n") : null;
        if (expected == actual) return;
        var hint = $"Baseline {sample}/{file} differs. If the new output is right, accept it with:\n  {UpdateVariable}=1 dotnet test tests/SymDsl.Core.Tests --filter FullyQualifiedName~BaselineTests\n";
        Assert.Fail(hint + FirstDifference(expected, actual));
    }

    static string FirstDifference(string? expected, string actual)
    {
        if (expected is null) return "(the expected file does not exist yet)";
        var e = expected.Split('\n'); var a = actual.Split('\n');
        for (var i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            var el = i < e.Length ? e[i] : "<end>"; var al = i < a.Length ? a[i] : "<end>";
            if (el != al) return $"first difference at line {i + 1}:\n  expected: {el}\n  actual:   {al}";
        }
        return "";
    }

    /// <summary>Removes expected files the sample no longer produces (only when updating).</summary>
    public static void Prune(string sample, IEnumerable<string> produced)
    {
        if (!Updating) return;
        var keep = new HashSet<string>(produced) { "main.sym" };
        foreach (var f in Directory.GetFiles(Path.Combine(Folder, sample)))
            if (!keep.Contains(Path.GetFileName(f))) File.Delete(f);
    }
}

public class BaselineTests
{
    [Theory]
    [MemberData(nameof(Baselines.All), MemberType = typeof(Baselines))]
    public void Sample_matches_its_baselines(string sample)
    {
        var c = Baselines.Compile(sample);
        var produced = new List<string> { "main.diagnostics.sym" };
        Baselines.Check(sample, "main.diagnostics.sym", Baselines.Annotate(Baselines.Source(sample), c.Diagnostics));
        if (sample.StartsWith("Invalid"))
        {
            Assert.True(c.HasErrors, $"{sample} is named Invalid… but compiled without errors");
            Assert.Null(c.Program);
        }
        else
        {
            Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
            Assert.NotNull(c.Program);
            Baselines.Check(sample, "main.ir.json", IrJson.Serialize(c.Program!));
            produced.Add("main.ir.json");
            Baselines.Check(sample, "symmetry-report.md", SymmetryReport.Render(c));
            produced.Add("symmetry-report.md");
            foreach (var m in c.Program!.Models)
            {
                var file = $"{CSharpEmitter.ClassName(m)}.g.cs";
                Baselines.Check(sample, file, CSharpEmitter.Emit(m, "SymDsl.Generated"));
                produced.Add(file);
            }
        }
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0001");
        Baselines.Prune(sample, produced);
    }
}
