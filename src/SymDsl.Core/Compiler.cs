using SymDsl.Diagnostics;
using SymDsl.IR;

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
    public static Compilation CompileFile(string path, CompileOptions? options = null)
        => throw new NotImplementedException("front end: issue 3");

    public static Compilation CompileText(string path, string text, CompileOptions? options = null)
        => throw new NotImplementedException("front end: issue 3");
}
