namespace SymDsl.Cli.Tests;

public class BuildTests
{
    [Fact]
    public void Build_writes_ir_generated_csharp_and_symmetry_report()
    {
        string dir = Symc.TempDir();
        var r = Symc.Run("build", Paths.Example("mlp.sym"), "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        var files = Directory.GetFiles(dir).Select(Path.GetFileName).ToList();
        Assert.Contains(files, f => f!.EndsWith(".json"));
        Assert.Contains(files, f => f!.EndsWith(".cs"));
        Assert.Contains(files, f => f!.EndsWith(".md"));
        string cs = File.ReadAllText(Directory.GetFiles(dir, "*.cs").Single());
        Assert.Contains("class Mlp", cs);
        Assert.Contains("RegisterComponents", cs);
    }

    [Fact]
    public void Build_into_an_unwritable_place_is_a_clear_error()
    {
        string blocker = Symc.WriteTemp("not-a-dir", "x");
        var r = Symc.Run("build", Paths.Example("mlp.sym"), "--out", Path.Combine(blocker, "sub"));
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Symc.AssertNoStackTrace(r);
    }
}
