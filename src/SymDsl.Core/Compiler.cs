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

    /// <summary>The syntax tree, imported models included (null when the file could not be read or checking failed internally).</summary>
    public global::SymDsl.Syntax.FileSyntax? Syntax { get; init; }

    /// <summary>
    /// What the semantic model built, even when there were errors (then possibly partial: models or train blocks with errors
    /// may be missing or incomplete). For tools that show what they can (the language server's hover); compilers read <see cref="Program"/>.
    /// </summary>
    public ProgramIR? Checked { get; init; }
}

/// <summary>The one entry point of the compiler: text → syntax tree → semantic model → IR.</summary>
public static class Compiler
{
    /// <summary>
    /// Reads and compiles a file. A missing or unreadable file is a SYM0002 diagnostic, never an exception; a file larger
    /// than <see cref="Parser.MaxSourceChars"/> bytes is SYM0605, refused from its size before it is read (and a stream
    /// whose size is not known is read no further than that).
    /// </summary>
    public static Compilation CompileFile(string path, CompileOptions? options = null)
    {
        string? text;
        if (Directory.Exists(path)) return new Compilation(path, [DiagnosticCatalog.FileUnreadable(SourceSpan.None(path), "it is a directory")], null);
        try { text = ReadBounded(path, Parser.MaxSourceChars); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or System.Security.SecurityException)
        {
            return new Compilation(path, [DiagnosticCatalog.FileUnreadable(SourceSpan.None(path), e.Message)], null);
        }
        if (text is null) return new Compilation(path, [DiagnosticCatalog.SourceTooLarge(SourceSpan.None(path), Parser.MaxSourceChars)], null);
        return CompileText(path, text, options);
    }

    /// <summary>The file's text (UTF-8, or as its byte-order mark says), or null when it has more than <paramref name="limit"/> bytes.</summary>
    internal static string? ReadBounded(string path, int limit)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (stream.CanSeek && stream.Length > limit) return null;
        // Not seekable (a pipe, /dev/stdin) or grown since: read at most limit + 1 bytes. UTF-8 needs at least one byte per
        // UTF-16 code unit, so a text of at most `limit` bytes is at most `limit` characters.
        var bytes = new byte[(int)Math.Min(limit + 1L, stream.CanSeek ? stream.Length + 1 : limit + 1L)];
        int total = 0, n;
        while (total < bytes.Length && (n = stream.Read(bytes, total, bytes.Length - total)) > 0)
        {
            total += n;
            if (total == bytes.Length && total <= limit) Array.Resize(ref bytes, (int)Math.Min(limit + 1L, bytes.Length * 2L));
        }
        if (total > limit) return null;
        using var reader = new StreamReader(new MemoryStream(bytes, 0, total), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
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
            syntax = Imports.Resolve(path, syntax, diagnostics);
            var program = SemanticModel.Check(path, syntax, options ?? new CompileOptions(), diagnostics);
            var ordered = Order(diagnostics);
            return new Compilation(path, ordered, ordered.Any(d => d.Level == DiagnosticLevel.Error) ? null : program) { Syntax = syntax, Checked = program };
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
