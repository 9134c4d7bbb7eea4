namespace SymDsl.Cli.Tests;

/// <summary>The cases of issue 12 that `symc check` used to call "ok — 0 models": each is now an error, at its place, exit 1.</summary>
public class InvalidInputCheckTests
{
    const string Model = "model M(dt: float = 0.5) {\n    input x: [3]\n    output y = x\n}\n";

    [Theory]
    [InlineData("$$\n" + Model, "bad.sym:1:1: error SYM0102: unexpected character '$$'")]
    [InlineData("model Ω {\n    input x: [3]\n    output y = x\n}\n", "bad.sym:1:7: error SYM0102: unexpected character 'Ω'")]
    [InlineData("model M {\n    input x: [3]\n    output ç = x\n}\n", "bad.sym:3:12: error SYM0102: unexpected character 'ç'")]
    public void Unreadable_characters_are_errors(string text, string expected)
    {
        var path = Symc.WriteTemp("bad.sym", text);
        var r = Symc.Run("check", path);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains(expected.Replace("bad.sym", path), r.Err);
        Assert.DoesNotContain("ok", r.Out);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Random_bytes_are_errors()
    {
        var rng = new Random(7);
        for (int i = 0; i < 8; i++)
        {
            var bytes = new byte[64 + rng.Next(4000)];
            rng.NextBytes(bytes);
            var path = Path.Combine(Symc.TempDir(), "noise.sym");
            File.WriteAllBytes(path, bytes);
            var r = Symc.Run("check", path);
            Assert.True(r.ExitCode == ExitCodes.InputError, $"random file {i}: exit {r.ExitCode}\n{r.All}");
            Assert.All(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith(path + ":", line));
        }
    }

    [Fact]
    public void CR_only_line_ends_report_the_right_line()
    {
        var path = Symc.WriteTemp("cr.sym", "model M {\r    input x: [3]\r    output y = z\r}\r");
        var r = Symc.Run("check", path);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains($"{path}:3:16: error SYM0202: 'z' is not defined", r.Err);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("inf")]
    [InlineData("-Infinity")]
    [InlineData("1e999")]
    public void A_non_finite_set_value_is_an_error(string value)
    {
        var path = Symc.WriteTemp("m.sym", Model);
        var r = Symc.Run("check", path, "--set", $"dt={value}");
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains($"error SYM0206: --set dt={value}: '{value}' is not a valid float (a finite number)", r.Err);
    }

    [Fact]
    public void A_huge_file_is_refused_from_its_size()
    {
        var path = Path.Combine(Symc.TempDir(), "huge.sym");
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength(50L << 20);
        var r = Symc.Run("check", path);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Equal($"{path}: error SYM0605: the file is larger than 8,388,608 bytes; it was not read", r.Err.Trim());
        File.Delete(path);
    }
}
