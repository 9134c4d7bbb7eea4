using System.CommandLine;
using System.Runtime.InteropServices;
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
    /// <summary>Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells expect).</summary>
    public const int Interrupted = 130;
    /// <summary>A bug in symc itself (reported on one line; never a stack trace unless SYMC_DEBUG=1).</summary>
    public const int Internal = 3;
}

/// <summary>The symc command line: parsing with System.CommandLine, one class per command.</summary>
public static class SymcApp
{
    static void Interrupt(PosixSignalContext context, CancellationTokenSource cancel)
    {
        if (cancel.IsCancellationRequested) return; // second signal: let it end the process
        context.Cancel = true;
        cancel.Cancel();
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var io = new CliIO(stdout, stderr);
        var root = new RootCommand("symc — the SymDsl compiler: check, build and train symmetry-annotated neural network models (.sym files).");
        root.Add(CheckCommand.Create(io));
        root.Add(BuildCommand.Create(io));
        root.Add(TrainCommand.Create(io));
        root.Add(CompareCommand.Create(io));
        root.Add(SweepCommand.Create(io));
        root.Add(SampleCommand.Create(io));
        root.Add(ExportCommand.Create(io));
        root.Add(LspCommand.Create(io));
        root.Add(CanonCommand.Create(io));
        root.Add(EvalCommand.Create(io));
        root.Add(AlignCommand.Create(io));
        root.Add(MergeCommand.Create(io));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) stderr.WriteLine($"symc: error: {error.Message}");
            stderr.WriteLine("Run 'symc --help' for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            // Ctrl-C (SIGINT) and SIGTERM cancel the command's token instead of killing the process: training stops
            // between steps, writes a checkpoint and returns. A second signal is not intercepted and ends the process.
            using var cancel = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => Interrupt(ctx, cancel));
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => Interrupt(ctx, cancel));
            return parsed.InvokeAsync(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
            }, cancel.Token).GetAwaiter().GetResult();
        }
        catch (SymDsl.IR.TrainSelectionException e)
        {
            // No --train with several train blocks, or a --train NAME the file does not have: bad usage.
            stderr.WriteLine($"symc: error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (SymDslException e)
        {
            stderr.WriteLine($"symc: error: {e.Message}");
            // What lies behind (e.g. libtorch's own message for a diverged or failed step) only on request.
            if (Debug && e.InnerException is { } cause) stderr.WriteLine($"caused by: {cause}");
            return ExitCodes.InputError;
        }
        catch (Exception e) when (!Debug && e is IOException or UnauthorizedAccessException)
        {
            // A write or read that no command named more precisely (.NET's message names the file).
            stderr.WriteLine($"symc: error: {e.Message}");
            return ExitCodes.InputError;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("symc: interrupted; checkpoints already written are kept (continue a training run with --resume)");
            return ExitCodes.Interrupted;
        }
        catch (ExternalException) when (!Debug)
        {
            // libtorch's text is not for users: it names C++ internals, not their model or data.
            stderr.WriteLine("symc: internal error: a libtorch call failed (set SYMC_DEBUG=1 for its message and the stack trace, and please report it)");
            return ExitCodes.Internal;
        }
        catch (Exception e) when (!Debug)
        {
            stderr.WriteLine($"symc: internal error: {e.GetType().Name}: {e.Message} (set SYMC_DEBUG=1 for the stack trace, and please report it)");
            return ExitCodes.Internal;
        }
    }

    static bool Debug => Environment.GetEnvironmentVariable("SYMC_DEBUG") == "1";
}

/// <summary>Where a command writes: results to Out, diagnostics and progress to Err.</summary>
public sealed record CliIO(TextWriter Out, TextWriter Err)
{
    public bool IsTerminal => ReferenceEquals(Out, Console.Out) && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
}
