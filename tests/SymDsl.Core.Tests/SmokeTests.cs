namespace SymDsl.Core.Tests;

public class SmokeTests
{
    [Fact]
    public void Example_file_exists() => Assert.True(File.Exists(Paths.Example("mlp.sym")));
}

public class ExampleTests
{
    public static IEnumerable<object[]> Examples() => Directory.GetFiles(Path.Combine(Paths.Root, "examples"), "*.sym").Order(StringComparer.Ordinal).Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(Examples))]
    public void Example_compiles_without_errors(string file)
    {
        var c = Compiler.CompileFile(Paths.Example(file));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.NotEmpty(c.Program!.Models);
    }
}
