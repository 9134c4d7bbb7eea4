using System.Text;
using SymDsl.Diagnostics;
using Snapshooter;
using Snapshooter.Xunit;
using SymDsl.Emit;

namespace SymDsl.Core.Tests;

/// <summary>
/// Bicep-style baselines: each folder under Baselines/ holds one sample, main.sym. Its expected outputs —
/// main.diagnostics.sym (the source with each diagnostic annotated under its line) and, for valid samples,
/// main.ir.json, symmetry-report.md and &lt;Model&gt;.g.cs — are Snapshooter snapshots in __snapshots__/
/// (<c>BaselineTests.Sample_matches_its_baselines_SAMPLE_FILE.snap</c>), the same mechanism as the examples' snapshots.
/// To accept new output, delete the snapshots concerned and run the tests again (not in CI: SNAPSHOOTER_STRICT_MODE=on
/// there makes a missing snapshot a failure); a failed comparison leaves the actual output in __snapshots__/__mismatch__/.
/// </summary>
public static class Baselines
{
    public static string Folder => Path.Combine(Paths.Root, "tests", "SymDsl.Core.Tests", "Baselines");
    public static string SnapshotFolder => Path.Combine(Paths.Root, "tests", "SymDsl.Core.Tests", "__snapshots__");

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

    /// <summary>The expected outputs of a sample, as (file name, text): what <see cref="BaselineTests"/> snapshots.</summary>
    public static List<(string File, string Text)> Outputs(string sample, Compilation c)
    {
        var outputs = new List<(string, string)> { ("main.diagnostics.sym", Annotate(Source(sample), c.Diagnostics)) };
        if (c.Program is null || c.HasErrors) return outputs;
        outputs.Add(("main.ir.json", IrJson.Serialize(c.Program)));
        outputs.Add(("symmetry-report.md", SymmetryReport.Render(c)));
        foreach (var m in c.Program.Models) outputs.Add(($"{CSharpEmitter.ClassName(m)}.g.cs", CSharpEmitter.Emit(m, "SymDsl.Generated")));
        return outputs;
    }

    /// <summary>The snapshot name extension of one output (Snapshooter prefixes the test's class and method).</summary>
    public static string SnapshotName(string sample, string file) => $"{sample}_{file}";

    public const string SnapshotPrefix = "BaselineTests.Sample_matches_its_baselines_";
}

public class BaselineTests
{
    [Theory]
    [MemberData(nameof(Baselines.All), MemberType = typeof(Baselines))]
    public void Sample_matches_its_baselines(string sample)
    {
        var c = Baselines.Compile(sample);
        if (sample.StartsWith("Invalid"))
        {
            Assert.True(c.HasErrors, $"{sample} is named Invalid… but compiled without errors");
            Assert.Null(c.Program);
        }
        else
        {
            Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
            Assert.NotNull(c.Program);
        }
        foreach (var (file, text) in Baselines.Outputs(sample, c))
            Snapshot.Match(text, SnapshotNameExtension.Create(Baselines.SnapshotName(sample, file)));
        Assert.DoesNotContain(c.Diagnostics, d => d.Code == "SYM0001");
    }

    [Fact]
    public void Every_baseline_snapshot_belongs_to_an_output_a_sample_produces()
    {
        var produced = Baselines.All().Select(n => (string)n[0])
            .SelectMany(s => Baselines.Outputs(s, Baselines.Compile(s)).Select(o => Baselines.SnapshotPrefix + Baselines.SnapshotName(s, o.File) + ".snap"))
            .ToHashSet();
        var snapshots = Directory.GetFiles(Baselines.SnapshotFolder, Baselines.SnapshotPrefix + "*.snap").Select(Path.GetFileName).ToList();
        Assert.NotEmpty(snapshots);
        Assert.DoesNotContain(snapshots, f => !produced.Contains(f!)); // delete snapshots of outputs no sample produces any more
    }
}
