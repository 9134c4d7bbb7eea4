using System.Text;
using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Cli.Lsp;

/// <summary>
/// The hover of a name (Markdown): what it declares, its shape from the checked model, and the symmetries acting on it
/// (a site: those at it; a layer: those that move its parameters, with the axis; a symmetry: every parameter it moves).
/// Names inside <c>for</c> blocks show each instance (<c>h[1]</c>, <c>h[2]</c>, …). Without a checked model (the model has
/// errors) only the declaration is shown.
/// </summary>
internal static class HoverText
{
    public static string For(SymbolDeclaration symbol, ProgramIR? program)
    {
        var model = symbol.Model is null ? null : program?.Models.FirstOrDefault(m => m.Name == symbol.Model);
        var text = new StringBuilder();
        switch (symbol.Kind)
        {
            case SymbolKind.Model:
                text.Append($"**model** `{symbol.Name}`");
                var m = program?.Models.FirstOrDefault(x => x.Name == symbol.Name);
                if (m is null) break;
                text.Append($" — {m.ParameterCount:N0} parameters");
                if (m.HyperParameters.Count > 0) text.Append($"; {string.Join(", ", m.HyperParameters.Select(h => $"{h.Key} = {h.Value}"))}");
                Symmetries(text, m.Symmetries, "Symmetries", null);
                break;
            case SymbolKind.HyperParameter:
                text.Append($"**hyper-parameter** `{symbol.Name}` of `{symbol.Model}`");
                if (model is not null && model.HyperParameters.TryGetValue(symbol.Name, out var value)) text.Append($" = {value}");
                break;
            case SymbolKind.Input:
                text.Append($"**input** `{symbol.Name}`");
                if (model?.Inputs.FirstOrDefault(i => i.Name == symbol.Name) is { } input)
                    text.Append($": {(input.Type == ElementType.Int64 ? "int " : "")}{Names.Shape(input.Shape)}");
                if (model is not null) Symmetries(text, model.Symmetries.Where(s => s.Target == symbol.Name), "Symmetries acting on it", null);
                break;
            case SymbolKind.Site:
            case SymbolKind.Output:
                text.Append($"**{(symbol.Kind == SymbolKind.Output ? "output" : "site")}** `{symbol.Name}`");
                if (model is null) break;
                var sites = model.Nodes.Where(n => n.Site is { } s && Instance(s, symbol.Name)).ToList();
                // The last node of each name is the site (a name assigned twice names its last value).
                var last = sites.GroupBy(n => n.Site!).Select(g => g.Last()).ToList();
                if (last.Count == 1 && last[0].Site == symbol.Name) text.Append($": {Names.Shape(last[0].Shape)}");
                else foreach (var n in last) text.Append($"\n- `{n.Site}`: {Names.Shape(n.Shape)}");
                Symmetries(text, model.Symmetries.Where(s => Instance(s.Target, symbol.Name)), "Symmetries acting on it", null);
                break;
            case SymbolKind.Layer:
                text.Append($"**layer** `{symbol.Name}`");
                if (symbol.LayerKind is { } kind) text.Append($" = {kind}");
                if (model is null) break;
                var blocks = model.Blocks.Where(b => Instance(b.Instance, symbol.Name)).ToList();
                if (blocks.Count > 0)
                {
                    text.Append(" (a block)");
                    foreach (var b in blocks)
                    {
                        var outputs = b.Outputs.Select(o => $"{o.Name}: {Names.Shape(model.Node(o.Node).Shape)}");
                        text.Append($"\n- `{b.Instance}`: outputs {string.Join(", ", outputs)}; {b.Layers.Count} layers");
                    }
                    Symmetries(text, model.Symmetries.Where(s => blocks.Any(b => s.Target.StartsWith(b.Instance + ".", StringComparison.Ordinal))), "Symmetries inside it", null);
                    break;
                }
                var layers = model.Layers.Where(l => Instance(l.Name, symbol.Name)).ToList();
                foreach (var l in layers)
                {
                    var args = string.Join(", ", l.Args.Select(a => $"{a.Key} = {a.Value}"));
                    text.Append($"\n- `{l.Name}` = {l.Kind}({args})");
                    foreach (var p in l.Parameters) text.Append($"\n  - `{p.Name}`: {Names.Shape(p.Shape)}");
                }
                var parameters = layers.SelectMany(l => l.Parameters).Select(p => p.Name).ToHashSet();
                Symmetries(text, model.Symmetries.Where(s => s.Actions.Any(a => parameters.Contains(a.Parameter))), "Symmetries acting on its parameters", parameters);
                break;
            case SymbolKind.Symmetry:
                text.Append($"**symmetry** `{symbol.Name}`");
                if (model is null) break;
                var declared = model.Symmetries.Where(s => s.Declared && Instance(s.Name, symbol.Name)).ToList();
                if (declared.Count == 0) text.Append(" (not resolved: see the diagnostics)");
                Symmetries(text, declared, null, null, actions: true);
                break;
            case SymbolKind.LoopVariable:
                text.Append($"**loop variable** `{symbol.Name}`");
                break;
            case SymbolKind.TrainBlock:
                text.Append($"**train block** `{symbol.Name}` of model `{symbol.Model}`");
                if (program?.Trains.FirstOrDefault(t => t.Name == symbol.Name && t.Model == symbol.Model) is { } train)
                {
                    text.Append($"\n- data {train.Data.Kind}, loss {train.Loss.Kind}({train.Loss.Output}, {train.Loss.Target}), optimizer {train.Optimizer.Kind}, batch {train.Batch}");
                    if (train.Epochs is { } e) text.Append($", {e} epochs");
                    if (train.Steps is { } st) text.Append($", {st} steps");
                    Symmetries(text, train.Symmetries, "Symmetries of this block", null);
                }
                break;
        }
        return text.ToString();
    }

    /// <summary>Whether <paramref name="name"/> is <paramref name="declared"/> itself or one of its instances (<c>h[2]</c>).</summary>
    static bool Instance(string name, string declared)
        => name == declared || name.Length > declared.Length + 1 && name.StartsWith(declared, StringComparison.Ordinal) && name[declared.Length] == '[';

    static void Symmetries(StringBuilder text, IEnumerable<SymmetryIR> symmetries, string? heading, IReadOnlySet<string>? onlyParameters, bool actions = false)
    {
        var list = symmetries.ToList();
        if (heading is not null)
        {
            if (list.Count == 0) { text.Append($"\n\n{heading}: none"); return; }
            text.Append($"\n\n{heading}:");
        }
        foreach (var s in list)
        {
            text.Append($"\n- {Describe(s)}");
            var moved = s.Actions.Where(a => onlyParameters is null || onlyParameters.Contains(a.Parameter)).ToList();
            if ((actions || onlyParameters is not null) && moved.Count > 0)
                text.Append($" — moves {string.Join(", ", moved.Select(a => a.Axis < 0 ? $"`{a.Parameter}` (whole)" : $"`{a.Parameter}` axis {a.Axis} ({a.Role.ToString().ToLowerInvariant()})"))}");
        }
    }

    static string Describe(SymmetryIR s)
    {
        var kind = s.Kind.ToString().ToLowerInvariant();
        var how = s.Declared && s.Inferred ? "declared, inferred" : s.Declared ? "declared" : "inferred";
        var units = s.Kind is SymmetryKind.Translation or SymmetryKind.Scale ? "" : s.Blocks > 1 ? $", {s.Blocks} blocks of {s.Dim} units" : $", {s.Dim} units";
        var exact = s.Exact ? "" : ", approximate";
        var name = s.Declared ? $"`{s.Name} : {kind}({s.Target})`" : $"`{kind}({s.Target})`";
        return $"{name} ({how}{units}{exact})";
    }
}
