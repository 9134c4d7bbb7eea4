using SymDsl.Diagnostics;
using SymDsl.Parsing;
using SymDsl.Syntax;

namespace SymDsl.Semantics;

/// <summary>
/// <c>import "file.sym"</c>: reads the imported files (paths relative to the importing file, followed transitively, each
/// file once) and adds their models, not their train blocks, to the importing file's. A missing or unreadable file, a cycle of
/// imports and a model name defined twice are errors at the import; errors inside an imported file carry that file's path.
/// </summary>
public static class Imports
{
    public static FileSyntax Resolve(string path, FileSyntax file, List<Diagnostic> diagnostics)
    {
        if (file.Imports.Count == 0) return file;
        var models = new List<ModelDecl>(file.Models);
        var owner = new Dictionary<string, ModelDecl>();
        foreach (var m in file.Models) owner.TryAdd(m.Name.Text, m);
        var root = Full(path);
        var loaded = new HashSet<string> { root };

        void Load(string shownPath, FileSyntax syntax, List<string> chain)
        {
            foreach (var import in syntax.Imports)
            {
                string target, shown;
                try
                {
                    shown = Path.Combine(Path.GetDirectoryName(shownPath) ?? "", import.Path);
                    target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(chain[^1]) ?? "", import.Path));
                }
                catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
                {
                    diagnostics.Add(DiagnosticCatalog.ImportUnreadable(import.Span, import.Path, e.Message));
                    continue;
                }
                if (chain.Contains(target))
                {
                    diagnostics.Add(DiagnosticCatalog.ImportCycle(import.Span, [.. chain.SkipWhile(c => c != target).Select(c => Path.GetFileName(c)), Path.GetFileName(target)]));
                    continue;
                }
                if (!loaded.Add(target)) continue; // imported already (by another file): its models are in once
                string? text;
                if (Directory.Exists(target)) { diagnostics.Add(DiagnosticCatalog.ImportUnreadable(import.Span, import.Path, "it is a directory")); continue; }
                if (!File.Exists(target)) { diagnostics.Add(DiagnosticCatalog.ImportUnreadable(import.Span, import.Path, $"no such file ({target})")); continue; }
                try { text = Compiler.ReadBounded(target, Parser.MaxSourceChars); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or System.Security.SecurityException)
                {
                    diagnostics.Add(DiagnosticCatalog.ImportUnreadable(import.Span, import.Path, e.Message));
                    continue;
                }
                if (text is null) { diagnostics.Add(DiagnosticCatalog.ImportUnreadable(import.Span, import.Path, $"it is larger than {Parser.MaxSourceChars:N0} bytes")); continue; }
                var imported = Parser.Parse(shown, text, diagnostics);
                Load(shown, imported, [.. chain, target]);
                foreach (var m in imported.Models)
                {
                    if (owner.TryGetValue(m.Name.Text, out var first))
                    {
                        diagnostics.Add(DiagnosticCatalog.ImportDuplicateModel(import.Span, m.Name.Text, first.Name.Span, m.Name.Span));
                        continue;
                    }
                    owner[m.Name.Text] = m;
                    models.Add(m);
                }
            }
        }

        Load(path, file, [root]);
        return file with { Models = models };
    }

    static string Full(string path)
    {
        try { return Path.GetFullPath(path); }
        catch (Exception) { return path; }
    }
}
