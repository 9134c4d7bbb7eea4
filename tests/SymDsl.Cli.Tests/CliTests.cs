namespace SymDsl.Cli.Tests;

public class CliSmokeTests
{
    [Fact]
    public void Repository_root_found() => Assert.True(File.Exists(Path.Combine(Paths.Root, "SymDsl.sln")));
}
