namespace SymDsl.Cli.Tests;

public class UsageTests
{
    [Fact]
    public void Help_lists_the_commands()
    {
        var r = Symc.Run("--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var cmd in new[] { "check", "build", "train" }) Assert.Contains(cmd, r.Out);
    }

    [Theory]
    [InlineData("check")]
    [InlineData("build")]
    [InlineData("train")]
    public void Each_command_has_help(string command)
    {
        var r = Symc.Run(command, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("FILE", r.Out);
    }

    [Fact]
    public void Unknown_flag_is_a_usage_error_on_one_line()
    {
        var r = Symc.Run("check", Paths.Example("mlp.sym"), "--no-such-flag");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--no-such-flag", r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void A_child_process_reports_a_missing_file_on_one_line_with_exit_1()
    {
        var r = SymcProcess.Run(["check", Path.Combine(Symc.TempDir(), "absent.sym")]);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("absent.sym", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Unknown_command_is_a_usage_error()
    {
        var r = Symc.Run("frobnicate");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Malformed_set_is_a_usage_error()
    {
        var r = Symc.Run("check", Paths.Example("mlp.sym"), "--set", "width");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("NAME=VALUE", r.Err);
    }

    [Fact]
    public void Bad_device_is_a_usage_error()
    {
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--device", "tpu");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Missing_file_is_a_one_line_input_error()
    {
        var r = Symc.Run("check", "/nonexistent/model.sym");
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("model.sym", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
        Symc.AssertNoStackTrace(r);
    }
}

public class UsageEdgeTests
{
    [Fact]
    public void Unknown_flag_in_place_of_the_file_is_a_usage_error()
    {
        var r = Symc.Run("check", "--bogus");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--bogus", r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Seeds_and_seed_together_are_rejected()
    {
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--seed", "1", "--seeds", "1,2", "--out", Symc.TempDir());
        Assert.Equal(ExitCodes.Usage, r.ExitCode); // bad usage, refused before anything is built or written
        Assert.Contains("--seeds", r.Err);
    }
}
