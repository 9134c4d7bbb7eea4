using SymDsl.Cli.Rendering;

namespace SymDsl.Cli.Commands;

/// <summary>The compile step every command starts with: read, check, print diagnostics.</summary>
internal static class CompileStep
{
    /// <summary>Compiles the file and prints its diagnostics; returns null (after printing) when there were errors.</summary>
    public static Compilation? Run(CliIO io, FileInfo file, CompileOptions options, DiagnosticFormat format = DiagnosticFormat.Text)
    {
        var compilation = Compiler.CompileFile(file.FullName, options);
        DiagnosticPrinter.Print(io, compilation, format, DisplayPath(file));
        return compilation.HasErrors ? null : compilation;
    }

    /// <summary>Paths in diagnostics are shown as the user wrote them when relative to the working directory.</summary>
    public static string DisplayPath(FileInfo file) => DisplayPaths.Of(file.FullName);
}
