using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Syntax;

namespace SymDsl.Semantics;

/// <summary>Syntax tree → checked <see cref="ProgramIR"/>: models (names, shapes, symmetries), then train blocks.</summary>
public static class SemanticModel
{
    public static ProgramIR Check(string path, FileSyntax file, CompileOptions options, List<Diagnostic> diagnostics)
    {
        var overrides = options.Overrides ?? new Dictionary<string, string>();
        var used = new HashSet<string>();
        var models = new List<ModelIR>();
        var resolvers = new Dictionary<string, SymmetryResolver>();
        var failed = new HashSet<string>();
        var seen = new HashSet<string>();
        var library = new ModelLibrary(file.Models.GroupBy(m => m.Name.Text).ToDictionary(g => g.Key, g => g.First()), diagnostics);
        // A model with a hyper-parameter that has neither default nor override, used as a block by another model, is checked
        // where it is used (with its hyper-arguments), not on its own.
        var blocks = ModelLibrary.UsedAsBlocks(file.Models);
        var blockOnly = new HashSet<string>();
        foreach (var decl in file.Models)
        {
            if (!seen.Add(decl.Name.Text)) { diagnostics.Add(DiagnosticCatalog.DuplicateModel(decl.Name.Span, decl.Name.Text)); continue; }
            if (blocks.Contains(decl.Name.Text) && decl.Parameters.Any(p => p.Default is null && !overrides.ContainsKey(p.Name.Text)))
            {
                blockOnly.Add(decl.Name.Text);
                continue;
            }
            var checkedModel = new ModelBuilder(decl, diagnostics, overrides, used, library).Build(options.MaxParameterBytes);
            var model = checkedModel.Model;
            var resolver = new SymmetryResolver(model, checkedModel.Declared, checkedModel.Unresolved);
            resolvers[model.Name] = resolver;
            models.Add(model with { Symmetries = resolver.ResolveModel(diagnostics) });
            if (checkedModel.HasErrors) failed.Add(model.Name);
        }
        foreach (var key in overrides.Keys.Where(k => !used.Contains(k)))
            diagnostics.Add(DiagnosticCatalog.UnknownOverride(Text.SourceSpan.None(path), key,
                Names.Suggest(key, file.Models.SelectMany(m => m.Parameters.Select(p => p.Name.Text)))));

        var baseDir = SafeDirectory(path);
        var trains = new List<TrainIR>();
        var blockNames = new Dictionary<string, TrainDecl>(); // a block's name (after `as`, else its model's) → the first block of that name
        foreach (var t in file.Trains)
        {
            // `symc train --train NAME` selects by name: a name given with `as` must be the only block of that name.
            // (Unnamed blocks of one model share its name, as before names existed; selecting them asks for `as`.)
            var blockName = t.Name ?? t.Model;
            if (blockNames.TryGetValue(blockName.Text, out var first) && (t.Name is not null || first.Name is not null))
                diagnostics.Add(DiagnosticCatalog.DuplicateTrainName(blockName.Span, blockName.Text, (first.Name ?? first.Model).Span));
            else blockNames.TryAdd(blockName.Text, t);

            var model = models.FirstOrDefault(m => m.Name == t.Model.Text);
            if (model is null && blockOnly.Contains(t.Model.Text))
            {
                var missing = file.Models.First(m => m.Name.Text == t.Model.Text).Parameters.First(p => p.Default is null && !overrides.ContainsKey(p.Name.Text));
                diagnostics.Add(DiagnosticCatalog.MissingHyperParameter(t.Model.Span, missing.Name.Text));
                continue;
            }
            if (model is null)
            {
                diagnostics.Add(DiagnosticCatalog.UnknownModel(t.Model.Span, t.Model.Text, Names.Suggest(t.Model.Text, file.Models.Select(m => m.Name.Text))));
                continue;
            }
            if (failed.Contains(model.Name)) continue; // the model's own errors were reported; its train block would only echo them
            if (t.HasSyntaxErrors) continue; // statements were dropped: missing-setting errors would be noise
            var resolver = resolvers[model.Name];
            if (new TrainChecker(t, model, baseDir, diagnostics) { BlockSymmetries = loss => resolver.ResolveBlock(loss, t.Span, diagnostics) }.Check() is { } ir)
                trains.Add(ir);
        }
        for (int i = 0; i < models.Count; i++)
            if (resolvers.TryGetValue(models[i].Name, out var r) && !failed.Contains(models[i].Name))
                models[i] = models[i] with { Symmetries = r.Finish(diagnostics) };
        return new ProgramIR(path, models, trains);
    }

    static string SafeDirectory(string path)
    {
        try { return System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? Directory.GetCurrentDirectory(); }
        catch (Exception) { return Directory.GetCurrentDirectory(); }
    }
}
