using System.Text.Json;
using SymDsl.Diagnostics;

namespace SymDsl.Cli.Rendering;

public enum DiagnosticFormat { Text, Json }

/// <summary>Prints diagnostics as <c>FILE:LINE:COL: error SYMnnnn: message</c> (stderr) or as JSON (stdout).</summary>
internal static class DiagnosticPrinter
{
    public static void Print(CliIO io, Compilation compilation, DiagnosticFormat format, string displayPath)
    {
        // Diagnostics of the file itself show the path as given; those inside an imported file keep that file's path,
        // relative to the same folder.
        string Show(string file)
        {
            if (file == compilation.Path) return displayPath;
            try { return Path.Combine(Path.GetDirectoryName(displayPath) ?? "", Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(compilation.Path)) ?? "", Path.GetFullPath(file))); }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return file; }
        }
        var diagnostics = compilation.Diagnostics
            .OrderBy(d => d.Span.File != compilation.Path).ThenBy(d => d.Span.File, StringComparer.Ordinal).ThenBy(d => d.Span.Line).ThenBy(d => d.Span.Column)
            .Select(d => d with { Span = d.Span with { File = Show(d.Span.File) } })
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
