namespace SymDsl.Examples.Tests;

/// <summary>Every example under examples/ checks without errors (the claims themselves are tested per example).</summary>
public class ExamplesCheckTests
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Paths.Root, "examples"), "*.sym", SearchOption.AllDirectories).Order())
            data.Add(Path.GetRelativePath(Paths.Root, f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Example_checks(string relativePath)
    {
        var c = Compiler.CompileFile(Path.Combine(Paths.Root, relativePath));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
    }
}
