using System.CommandLine;
using SymDsl.Cli.Commands;
using SymDsl.Diagnostics;

namespace SymDsl.Cli;

/// <summary>Exit codes of every symc command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Errors in the input: diagnostics with level error, unreadable files, bad data, divergence.</summary>
    public const int InputError = 1;
    /// <summary>Bad usage: unknown command or flag, malformed option value.</summary>
    public const int Usage = 2;
    /// <summary>A bug in symc itself (reported on one line; never a stack trace unless SYMC_DEBUG=1).</summary>
    public const int Internal = 3;
}

/// <summary>The symc command line: parsing with System.CommandLine, one class per command.</summary>
public static class SymcApp
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var io = new CliIO(stdout, stderr);
        var root = new RootCommand("symc — the SymDsl compiler: check, build and train symmetry-annotated neural network models (.sym files).");
        root.Add(CheckCommand.Create(io));
        root.Add(BuildCommand.Create(io));
        root.Add(TrainCommand.Create(io));
        root.Add(CompareCommand.Create(io));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) stderr.WriteLine($"symc: error: {error.Message}");
            stderr.WriteLine("Run 'symc --help' for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (SymDslException e)
        {
            stderr.WriteLine($"symc: error: {e.Message}");
            return ExitCodes.InputError;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("symc: cancelled");
            return ExitCodes.InputError;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("SYMC_DEBUG") != "1")
        {
            stderr.WriteLine($"symc: internal error: {e.GetType().Name}: {e.Message} (set SYMC_DEBUG=1 for the stack trace, and please report it)");
            return ExitCodes.Internal;
        }
    }
}

/// <summary>Where a command writes: results to Out, diagnostics and progress to Err.</summary>
public sealed record CliIO(TextWriter Out, TextWriter Err)
{
    public bool IsTerminal => ReferenceEquals(Out, Console.Out) && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
}
