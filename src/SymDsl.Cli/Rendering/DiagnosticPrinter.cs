using System.Text.Json;
using SymDsl.Diagnostics;

namespace SymDsl.Cli.Rendering;

public enum DiagnosticFormat { Text, Json }

/// <summary>Prints diagnostics as <c>FILE:LINE:COL: error SYMnnnn: message</c> (stderr) or as JSON (stdout).</summary>
internal static class DiagnosticPrinter
{
    public static void Print(CliIO io, Compilation compilation, DiagnosticFormat format, string displayPath)
    {
        var diagnostics = compilation.Diagnostics
            .OrderBy(d => d.Span.Line).ThenBy(d => d.Span.Column)
            .Select(d => d with { Span = d.Span with { File = displayPath } })
            .ToList();
        if (format == DiagnosticFormat.Json)
        {
            var json = diagnostics.Select(d => new
            {
                file = d.Span.File,
                line = d.Span.Line,
                column = d.Span.Column,
                endLine = d.Span.EndLine,
                endColumn = d.Span.EndColumn,
                level = d.LevelText,
                code = d.Code,
                message = d.Message,
            });
            io.Out.WriteLine(JsonSerializer.Serialize(new { file = displayPath, errors = diagnostics.Count(d => d.Level == DiagnosticLevel.Error), diagnostics = json }, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        foreach (var d in diagnostics) io.Err.WriteLine(d.ToString());
    }
}
