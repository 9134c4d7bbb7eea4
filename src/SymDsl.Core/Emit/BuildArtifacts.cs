namespace SymDsl.Emit;

/// <summary>What <c>symc build</c> writes: <c>program.ir.json</c>, one <c>&lt;Model&gt;.g.cs</c> per model, <c>symmetry-report.md</c>.</summary>
public static class BuildArtifacts
{
    public const string DefaultNamespace = "SymDsl.Generated";

    /// <returns>The paths written. Nothing is written when the compilation has errors (returns an empty list).</returns>
    public static IReadOnlyList<string> Write(Compilation compilation, string outDir, string @namespace = DefaultNamespace)
    {
        if (compilation.Program is not { } program || compilation.HasErrors) return [];
        Directory.CreateDirectory(outDir);
        var written = new List<string>();
        void Put(string name, string text)
        {
            var path = Path.Combine(outDir, name);
            File.WriteAllText(path, text);
            written.Add(path);
        }
        Put("program.ir.json", IrJson.Serialize(program));
        foreach (var m in program.Models) Put($"{CSharpEmitter.ClassName(m)}.g.cs", CSharpEmitter.Emit(m, @namespace));
        Put("symmetry-report.md", SymmetryReport.Render(compilation));
        return written;
    }
}
