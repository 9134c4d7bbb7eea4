using SymDsl.Diagnostics;
using SymDsl.Parsing;
using SymDsl.Semantics;
using SymDsl.Syntax;
using SymDsl.Text;

namespace SymDsl;

/// <summary>
/// A file compiled with another data source in one train block (<c>symc eval RUN --data SOURCE</c>): SOURCE is written as
/// the value of a train block's <c>data</c> setting, parsed by the grammar and checked by the train-block checker exactly
/// as if it stood in the file (unknown source, bad arguments, fields that do not fit the model's inputs or the loss are
/// the checker's own diagnostics). Its diagnostics are located in <see cref="OriginName"/> at line 1, columns of SOURCE;
/// relative paths in it are relative to <paramref name="baseDir"/> (the current directory for a command line).
/// </summary>
public static class DataSourceOverride
{
    /// <summary>The file name diagnostics in the data source are reported in.</summary>
    public const string OriginName = "--data";

    const string Prefix = "train __ {\ndata ";

    /// <summary>
    /// Compiles <paramref name="path"/> with the data setting of the train block(s) called <paramref name="trainName"/>
    /// (<see cref="IR.TrainIR.Name"/>; null: every block of model <paramref name="modelName"/>) replaced by
    /// <paramref name="dataSource"/>. An internal failure is reported as SYM0001; a file without that train block is a
    /// <see cref="SymDslException"/>.
    /// </summary>
    public static Compilation Compile(string path, CompileOptions options, string? trainName, string modelName, string dataSource, string baseDir)
    {
        string? text;
        try { text = Compiler.ReadBounded(path, Parser.MaxSourceChars); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or System.Security.SecurityException)
        {
            return new Compilation(path, [DiagnosticCatalog.FileUnreadable(SourceSpan.None(path), e.Message)], null);
        }
        if (text is null) return new Compilation(path, [DiagnosticCatalog.SourceTooLarge(SourceSpan.None(path), Parser.MaxSourceChars)], null);

        // As Compiler.CompileText: the parser and the tree walks recurse, so they run on a thread with a large stack.
        Compilation? result = null;
        SymDslException? failure = null;
        var thread = new Thread(() =>
        {
            try { result = Core(path, text, options, trainName, modelName, dataSource, baseDir); }
            catch (SymDslException e) { failure = e; }
        }, 256 * 1024 * 1024);
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure;
        return result!;
    }

    static Compilation Core(string path, string text, CompileOptions options, string? trainName, string modelName, string dataSource, string baseDir)
    {
        var diagnostics = new List<Diagnostic>();
        try
        {
            // The source as the value of a `data` setting of a train block of its own (the grammar's own rule for it).
            var source = dataSource.ReplaceLineEndings(" ");
            var dataDiagnostics = new List<Diagnostic>();
            var parsed = Parser.Parse(OriginName, Prefix + source + "\n}", dataDiagnostics);
            var setting = parsed.Trains.Count == 1 && parsed.Trains[0].Body is [SettingStmt { Key.Text: "data", Value: not null } s] ? s : null;
            if (dataDiagnostics.Any(d => d.Level == DiagnosticLevel.Error) || setting is null)
            {
                var errors = dataDiagnostics.Where(d => d.Level == DiagnosticLevel.Error).Select(d => Relocate(d, source.Length)).ToList();
                if (errors.Count == 0)
                    errors.Add(DiagnosticCatalog.SettingExpects(new SourceSpan(OriginName, 1, 1, 1, source.Length + 1), "data", "a data source such as digits(test_fraction = 0.2)"));
                return new Compilation(path, errors, null);
            }
            setting = setting with { Value = Absolute(setting.Value!, baseDir) };

            var syntax = Parser.Parse(path, text, diagnostics);
            syntax = Imports.Resolve(path, syntax, diagnostics);
            var replaced = 0;
            var trains = syntax.Trains.Select(t =>
            {
                if (!(trainName is null ? t.Model.Text == modelName : (t.Name ?? t.Model).Text == trainName)) return t;
                replaced++;
                return t with { Body = t.Body.Select(b => b is SettingStmt { Key.Text: "data" } ? setting : b).ToList() };
            }).ToList();
            if (replaced == 0)
                throw new SymDslException($"{path} has no train block {(trainName ?? $"of model {modelName}")} any more");
            var program = SemanticModel.Check(path, syntax with { Trains = trains }, options, diagnostics);
            var ordered = diagnostics.Select(d => Relocate(d, source.Length)).Distinct()
                .OrderBy(d => d.Span.File == OriginName ? 0 : 1).ThenBy(d => d.Span.Line).ThenBy(d => d.Span.Column).ThenBy(d => d.Code).ToList();
            return new Compilation(path, ordered, ordered.Any(d => d.Level == DiagnosticLevel.Error) ? null : program);
        }
        catch (SymDslException) { throw; }
        catch (Exception e)
        {
            diagnostics.Add(DiagnosticCatalog.InternalError(SourceSpan.None(path), $"{e.GetType().Name}: {e.Message}"));
            return new Compilation(path, diagnostics, null);
        }
    }

    /// <summary>A diagnostic in the parsed wrapper, placed at its column of the source as given (line 1); others unchanged.</summary>
    static Diagnostic Relocate(Diagnostic d, int length)
    {
        if (d.Span.File != OriginName) return d;
        const int column0 = 6; // "data " precedes the source on line 2 of the wrapper
        int Col(int line, int col) => line == 2 ? Math.Clamp(col - column0 + 1, 1, length + 1) : line < 2 ? 1 : length + 1;
        var start = Col(d.Span.Line, d.Span.Column);
        return d with { Span = new SourceSpan(OriginName, 1, start, 1, Math.Max(start, Col(d.Span.EndLine, d.Span.EndColumn))) };
    }

    /// <summary>
    /// The data source with its relative path arguments (string literals given to arguments of type path) made absolute
    /// against <paramref name="baseDir"/>, so that the checker, which resolves paths against the .sym file's directory,
    /// leaves them as the command line meant them. Anything else is left for the checker to judge.
    /// </summary>
    static Expr Absolute(Expr value, string baseDir)
    {
        if (value is not CallExpr { Callee: NameExpr callee } call || Vocabulary.DataSourceDefinitions.Find(callee.Name) is not { } definition)
            return value;
        var signature = definition.Arguments.ToList();
        var position = 0;
        var args = call.Arguments.Select(a =>
        {
            var spec = a.Name is null ? (position < signature.Count ? signature[position++] : null) : signature.FirstOrDefault(s => s.Name == a.Name.Text);
            if (spec is not { Type: ArgType.Path } || a.Value is not StringLiteral { } lit || Path.IsPathRooted(lit.Value)) return a;
            try { return a with { Value = lit with { Value = Path.GetFullPath(Path.Combine(baseDir, lit.Value)) } }; }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return a; }
        }).ToList();
        return call with { Arguments = args };
    }
}
