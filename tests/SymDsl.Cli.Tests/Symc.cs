namespace SymDsl.Cli.Tests;

/// <summary>Runs symc in-process and captures what it prints.</summary>
internal static class Symc
{
    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public string All => Out + Err;
    }

    public static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = SymcApp.Run(args, stdout, stderr);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "symc-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static string WriteTemp(string name, string text)
    {
        string path = Path.Combine(TempDir(), name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>No .NET stack trace in what a user sees.</summary>
    public static void AssertNoStackTrace(Result r)
    {
        Assert.DoesNotContain("   at ", r.All);
        Assert.DoesNotContain("Exception:", r.All.Replace("SymDslException", ""));
    }
}
