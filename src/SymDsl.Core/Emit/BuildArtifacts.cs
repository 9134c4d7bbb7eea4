namespace SymDsl.Emit;

/// <summary>What <c>symc build</c> writes: <c>program.ir.json</c>, one <c>&lt;Model&gt;.g.cs</c> per model, <c>symmetry-report.md</c>.</summary>
public static class BuildArtifacts
{
    public const string DefaultNamespace = "SymDsl.Generated";

    /// <summary>The artifacts as (file name, text), in the order they are written; empty when the compilation has errors.</summary>
    public static IReadOnlyList<(string Name, string Text)> Render(Compilation compilation, string @namespace = DefaultNamespace)
    {
        if (compilation.Program is not { } program || compilation.HasErrors) return [];
        var files = new List<(string, string)> { ("program.ir.json", IrJson.Serialize(program)) };
        foreach (var m in program.Models) files.Add(($"{CSharpEmitter.ClassName(m)}.g.cs", CSharpEmitter.Emit(m, @namespace)));
        files.Add(("symmetry-report.md", SymmetryReport.Render(compilation)));
        return files;
    }

    /// <returns>The paths written. Nothing is written when the compilation has errors (returns an empty list).</returns>
    public static IReadOnlyList<string> Write(Compilation compilation, string outDir, string @namespace = DefaultNamespace)
    {
        var files = Render(compilation, @namespace);
        if (files.Count == 0) return [];
        Directory.CreateDirectory(outDir);
        var written = new List<string>();
        foreach (var (name, text) in files)
        {
            var path = Path.Combine(outDir, name);
            Text.AtomicFile.WriteAllText(path, text);
            written.Add(path);
        }
        return written;
    }
}
