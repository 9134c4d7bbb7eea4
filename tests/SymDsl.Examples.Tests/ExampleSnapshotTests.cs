using Snapshooter;
using Snapshooter.Xunit;
using SymDsl.Emit;

namespace SymDsl.Examples.Tests;

/// <summary>
/// Every example's diagnostics and checked IR, snapshot-tested with Snapshooter (__snapshots__/). A change to the
/// compiler that changes what an example means shows up here as a diff. To accept new output, delete the snapshot
/// and run the tests again; CI runs with SNAPSHOOTER_STRICT_MODE=on, so a missing snapshot fails there. The Core
/// samples' expected outputs (tests/SymDsl.Core.Tests/Baselines.cs) use the same mechanism.
/// </summary>
public class ExampleSnapshotTests
{
    [Theory]
    [MemberData(nameof(ExamplesCheckTests.Files), MemberType = typeof(ExamplesCheckTests))]
    public void Example_diagnostics_and_ir(string relativePath)
    {
        var c = Compiler.CompileFile(Path.Combine(Paths.Root, relativePath));
        var diagnostics = c.Diagnostics.Select(d => $"{d.Span.Line}:{d.Span.Column} {d.LevelText} {d.Code}: {d.Message}");
        // Absolute paths (data files resolved against the .sym file) depend on where the repository is checked out.
        string ir = c.Program is null ? "" : IrJson.Serialize(c.Program).Replace(Paths.Root, "<repo>");
        string text = string.Join("\n", diagnostics) + "\n---\n" + ir;
        Snapshot.Match(text, SnapshotNameExtension.Create(Name(relativePath)));
    }

    static string Name(string relativePath) => relativePath.Replace('/', '_').Replace('\\', '_');

    [Fact]
    public void Every_example_snapshot_belongs_to_an_example()
    {
        const string prefix = nameof(ExampleSnapshotTests) + "." + nameof(Example_diagnostics_and_ir) + "_";
        var expected = ExamplesCheckTests.Files().Cast<object[]>().Select(row => prefix + Name((string)row[0]) + ".snap").ToHashSet();
        var snapshots = Directory.GetFiles(Path.Combine(Paths.Root, "tests", "SymDsl.Examples.Tests", "__snapshots__"), prefix + "*.snap").Select(Path.GetFileName).ToList();
        Assert.Equal(expected.Count, snapshots.Count(expected.Contains));
        Assert.DoesNotContain(snapshots, f => !expected.Contains(f!)); // delete the snapshots of removed or renamed examples
    }
}
