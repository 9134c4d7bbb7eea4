namespace SymDsl.Core.Tests;

public class SmokeTests
{
    [Fact]
    public void Example_file_exists() => Assert.True(File.Exists(Paths.Example("mlp.sym")));
}
