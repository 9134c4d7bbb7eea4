using System.Text.Json;
using System.Text.RegularExpressions;

namespace SymDsl.Cli.Tests;

public class CheckTests
{
    [Fact]
    public void The_main_example_checks()
    {
        var r = Symc.Run("check", Paths.Example("mlp.sym"));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("ok", r.Out);
    }

    [Fact]
    public void Syntax_error_is_located_and_exits_1()
    {
        string path = Symc.WriteTemp("broken.sym", "model M {\n    input x: [4]\n    layer fc = Linear(4, 2\n    output y = fc(x)\n}\n");
        var r = Symc.Run("check", path);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Matches(new Regex(@"broken\.sym:\d+:\d+: error SYM\d{4}: "), r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void A_false_symmetry_is_rejected_at_its_line_and_column()
    {
        string path = Symc.WriteTemp("tanh.sym", """
            model T {
                input x: [4]
                layer fc1 = Linear(4, 8)
                layer fc2 = Linear(8, 2)
                h = tanh(fc1(x))
                output y = fc2(h)
                symmetry s : rescale(h)
            }
            """);
        var r = Symc.Run("check", path);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Matches(new Regex(@"tanh\.sym:7:\d+: error SYM\d{4}: .*rescale"), r.Err);
    }

    [Fact]
    public void Json_format_reports_diagnostics_as_data()
    {
        string path = Symc.WriteTemp("undeclared.sym", """
            model T {
                input x: [4]
                layer fc1 = Linear(4, 8)
                layer fc2 = Linear(8, 2)
                h = tanh(fc1(x))
                output y = fc2(h)
            }
            """);
        var r = Symc.Run("check", path, "--format", "json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Out);
        var diagnostics = doc.RootElement.GetProperty("diagnostics").EnumerateArray().ToList();
        Assert.Contains(diagnostics, d => d.GetProperty("level").GetString() == "warning" && d.GetProperty("message").GetString()!.Contains("sign"));
        Assert.All(diagnostics, d => Assert.StartsWith("SYM", d.GetProperty("code").GetString()));
    }

    [Fact]
    public void Set_overrides_a_hyper_parameter_and_unknown_names_are_errors()
    {
        Assert.Equal(0, Symc.Run("check", Paths.Example("mlp.sym"), "--set", "width=32").ExitCode);
        var bad = Symc.Run("check", Paths.Example("mlp.sym"), "--set", "depth=3");
        Assert.Equal(ExitCodes.InputError, bad.ExitCode);
        Assert.Contains("depth", bad.Err);
    }
}
