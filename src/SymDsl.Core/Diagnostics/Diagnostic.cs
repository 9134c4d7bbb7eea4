using SymDsl.Text;

namespace SymDsl.Diagnostics;

public enum DiagnosticLevel { Info, Warning, Error }

/// <summary>A diagnostic is data: where, how bad, which code, what to say. Codes are defined in <c>DiagnosticCatalog</c>.</summary>
public sealed record Diagnostic(SourceSpan Span, DiagnosticLevel Level, string Code, string Message)
{
    public string LevelText => Level switch
    {
        DiagnosticLevel.Error => "error",
        DiagnosticLevel.Warning => "warning",
        _ => "info",
    };

    /// <summary><c>FILE:LINE:COL: error SYMnnnn: message</c>.</summary>
    public override string ToString() => $"{Span}: {LevelText} {Code}: {Message}";
}

/// <summary>
/// An error a user can act on, raised past the compiler (data files, training, output directories).
/// The CLI prints its message on one line and exits 1; it never shows a stack trace.
/// </summary>
public sealed class SymDslException(string message, Exception? inner = null) : Exception(message, inner);
