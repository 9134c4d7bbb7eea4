using System.Diagnostics;
using System.Text;

namespace SymDsl.Cli.Tests;

/// <summary>
/// Runs symc as a real child process (`dotnet symc.dll …` from the test's own output folder), for what an
/// in-process run cannot show: signals, SIGKILL, the process's own GC settings (DOTNET_* variables), exit codes.
/// </summary>
internal sealed class SymcProcess : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _out = new();
    readonly StringBuilder _err = new();

    SymcProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_out) _out.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_err) _err.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The symc.dll copied beside the test assembly (the Cli project is a project reference).</summary>
    public static string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "symc.dll");

    /// <summary>Starts symc with <paramref name="args"/>; <paramref name="env"/> adds or overrides environment variables.</summary>
    public static SymcProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment.Remove("SYMC_DEBUG");
        if (env is not null)
            foreach (var (k, v) in env) info.Environment[k] = v;
        return new SymcProcess(new Process { StartInfo = info });
    }

    /// <summary>Runs to completion (or kills it after <paramref name="timeout"/> and fails).</summary>
    public static Symc.Result Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        using var p = Start(args, env);
        return p.WaitForExit(timeout ?? TimeSpan.FromMinutes(3));
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public string Out { get { lock (_out) return _out.ToString(); } }
    public string Err { get { lock (_err) return _err.ToString(); } }

    /// <summary>Waits for the process to end; throws (after killing it) if it takes longer than <paramref name="timeout"/>.</summary>
    public Symc.Result WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException($"symc did not finish within {timeout}; stderr so far:\n{Err}");
        }
        _process.WaitForExit(); // drain the asynchronous output readers
        return new Symc.Result(_process.ExitCode, Out, Err);
    }

    /// <summary>SIGKILL: the process gets no chance to clean up.</summary>
    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { /* already gone */ }
        _process.WaitForExit();
    }

    /// <summary>Sends a POSIX signal (e.g. SIGTERM = 15, SIGINT = 2) to the process.</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited) _ = Kill(_process.Id, signal);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int sig);

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
