using System.Diagnostics;
using System.Text.Json;

namespace SymDsl.Cli.Tests;

/// <summary>
/// A test that runs PyTorch in python3: skipped with a message naming .ci/python when no python3 here imports torch,
/// except under CI (.ci/run sets SYMDSL_CI=1), where it runs and fails with that message.
/// </summary>
public sealed class PythonTorchFactAttribute : FactAttribute
{
    public PythonTorchFactAttribute()
    {
        if (PythonTorch.Interpreter is null && Environment.GetEnvironmentVariable("SYMDSL_CI") != "1")
            Skip = PythonTorch.Missing;
    }
}

/// <summary>The python3 that imports torch (SYMDSL_PYTHON, else Debian's /usr/bin/python3, else python3 on PATH), and check_twin.py;
/// shared by the export and --init-from tests.</summary>
internal static class PythonTorch
{
    public const string Missing = "no python3 here imports torch: install Debian's python3-torch with `bash .ci/python` (as root)";

    static readonly Lazy<string?> interpreter = new(() =>
    {
        var candidates = new[] { Environment.GetEnvironmentVariable("SYMDSL_PYTHON"), "/usr/bin/python3", "python3" };
        foreach (var c in candidates.OfType<string>().Where(c => c.Length > 0))
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(c, ["-c", "import torch"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
                p.StandardError.ReadToEnd();
                if (p.WaitForExit(120_000) && p.ExitCode == 0) return c;
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    });

    public static string? Interpreter => interpreter.Value;

    /// <summary>Runs check_twin.py on the case directories (one python process for all) and returns its JSON lines.</summary>
    public static List<JsonElement> CheckTwins(IEnumerable<string> caseDirs)
    {
        Assert.True(Interpreter is not null, Missing);
        var script = Path.Combine(Paths.Root, "tests", "SymDsl.Cli.Tests", "Python", "check_twin.py");
        var start = new ProcessStartInfo(Interpreter!, ["-B", script, .. caseDirs]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(600_000), "check_twin.py did not finish in 10 minutes");
        Assert.True(p.ExitCode == 0, $"check_twin.py exited with {p.ExitCode}: {stderr.Result}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }
}
