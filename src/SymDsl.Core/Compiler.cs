using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Parsing;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl;

/// <summary>Options for one compilation.</summary>
/// <param name="Overrides">Hyper-parameter overrides from <c>--set NAME=VALUE</c>, applied to every model that declares NAME.</param>
/// <param name="MaxParameterBytes">The resource guard: a model whose parameters need more memory than this is refused at check time.</param>
public sealed record CompileOptions(IReadOnlyDictionary<string, string>? Overrides = null, long MaxParameterBytes = 4L << 30);

/// <summary>The result of compiling one file: every diagnostic, and the IR when there were no errors.</summary>
public sealed record Compilation(string Path, IReadOnlyList<Diagnostic> Diagnostics, ProgramIR? Program)
{
    public bool HasErrors => Diagnostics.Any(d => d.Level == DiagnosticLevel.Error);
}

/// <summary>The one entry point of the compiler: text → syntax tree → semantic model → IR.</summary>
public static class Compiler
{
    /// <summary>Reads and compiles a file. A missing or unreadable file is a SYM0002 diagnostic, never an exception.</summary>
    public static Compilation CompileFile(string path, CompileOptions? options = null)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or System.Security.SecurityException)
        {
            return new Compilation(path, [DiagnosticCatalog.FileUnreadable(SourceSpan.None(path), e.Message)], null);
        }
        return CompileText(path, text, options);
    }

    /// <summary>Compiles source text. Never throws: an internal failure is reported as SYM0001.</summary>
    public static Compilation CompileText(string path, string text, CompileOptions? options = null)
    {
        // The parser and the tree walks recurse; long operator chains can nest deeply. A dedicated thread with a
        // large stack keeps that from ever overflowing (bracket nesting and file size are bounded by the parser).
        Compilation? result = null;
        var thread = new Thread(() => result = CompileCore(path, text, options), 256 * 1024 * 1024);
        thread.Start();
        thread.Join();
        return result!;
    }

    static Compilation CompileCore(string path, string text, CompileOptions? options)
    {
        var diagnostics = new List<Diagnostic>();
        try
        {
            var syntax = Parser.Parse(path, text ?? "", diagnostics);
            var program = SemanticModel.Check(path, syntax, options ?? new CompileOptions(), diagnostics);
            var ordered = Order(diagnostics);
            return new Compilation(path, ordered, ordered.Any(d => d.Level == DiagnosticLevel.Error) ? null : program);
        }
        catch (Exception e)
        {
            diagnostics.Add(DiagnosticCatalog.InternalError(SourceSpan.None(path), $"{e.GetType().Name}: {e.Message}"));
            return new Compilation(path, Order(diagnostics), null);
        }
    }

    static List<Diagnostic> Order(List<Diagnostic> diagnostics)
        => diagnostics.Distinct().OrderBy(d => d.Span.Line).ThenBy(d => d.Span.Column).ThenBy(d => d.Code).ToList();
}
