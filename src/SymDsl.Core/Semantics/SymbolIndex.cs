using SymDsl.Syntax;
using SymDsl.Text;

namespace SymDsl.Semantics;

/// <summary>What a name in a .sym file declares.</summary>
public enum SymbolKind { Model, HyperParameter, Input, Layer, Site, Output, Symmetry, LoopVariable, TrainBlock }

/// <summary>
/// A declaration: its name, kind, where its name is written (<see cref="NameSpan"/>) and the whole declaration
/// (<see cref="Span"/>). <see cref="Model"/> is the model whose scope holds it (null for models and train blocks);
/// <see cref="Children"/> the declarations inside a model, in source order (those inside <c>for</c> blocks included).
/// <see cref="LayerKind"/> is the kind a layer instantiates (<c>Linear</c>, or a model's name for a block instance).
/// </summary>
public sealed record SymbolDeclaration(string Name, SymbolKind Kind, SourceSpan NameSpan, SourceSpan Span, string? Model)
{
    public List<SymbolDeclaration> Children { get; } = [];
    public string? LayerKind { get; init; }
}

/// <summary>
/// The position → symbol lookup of a checked file, for editors (go to definition, hover, outline): every declaration and every
/// use of a declared name, by source range. Built from the syntax tree alone (imported models included), so it works while the
/// file has errors; names resolve by the same scopes as the checker's (a model's names, a train block's model).
/// </summary>
public sealed class SymbolIndex
{
    readonly List<(SourceSpan Span, SymbolDeclaration Symbol)> occurrences = [];

    /// <summary>The top-level declarations of every file seen (models, imported ones included, and train blocks), in order.</summary>
    public List<SymbolDeclaration> Declarations { get; } = [];

    /// <summary>The declaration named at 1-based <paramref name="line"/> and <paramref name="column"/> of <paramref name="file"/> (a use or the declaration itself), or null.</summary>
    public SymbolDeclaration? At(string file, int line, int column)
    {
        SymbolDeclaration? best = null;
        int bestWidth = int.MaxValue;
        foreach (var (span, symbol) in occurrences)
        {
            if (span.File != file || span.Line != line || span.EndLine != line) continue;
            // A cursor just past the name (column == end) still names it, as editors place it after typing.
            if (column < span.Column || column > span.EndColumn) continue;
            int width = span.EndColumn - span.Column;
            if (width < bestWidth) { best = symbol; bestWidth = width; }
        }
        return best;
    }

    /// <summary>Every use and the declaration of <paramref name="symbol"/>.</summary>
    public IEnumerable<SourceSpan> Occurrences(SymbolDeclaration symbol) => occurrences.Where(o => ReferenceEquals(o.Symbol, symbol)).Select(o => o.Span);

    public static SymbolIndex Build(FileSyntax file)
    {
        var index = new SymbolIndex();
        var models = new Dictionary<string, (SymbolDeclaration Decl, Dictionary<string, SymbolDeclaration> Scope)>();
        var declared = new List<ModelDecl>();
        // Declarations first (a block model may be written after its use), then uses.
        foreach (var m in file.Models)
        {
            var decl = new SymbolDeclaration(m.Name.Text, SymbolKind.Model, m.Name.Span, m.Span, null);
            if (models.ContainsKey(m.Name.Text)) continue; // a duplicate model: the checker reports it
            declared.Add(m);
            var scope = new Dictionary<string, SymbolDeclaration>();
            models[m.Name.Text] = (decl, scope);
            index.Declarations.Add(decl);
            index.Add(m.Name.Span, decl);
            foreach (var p in m.Parameters) index.Declare(decl, scope, p.Name, SymbolKind.HyperParameter, p.Span, null);
            index.DeclareBody(decl, scope, m.Body);
        }
        foreach (var m in declared)
        {
            var entry = models[m.Name.Text];
            var resolver = new Resolver(index, models, entry.Scope);
            foreach (var p in m.Parameters) resolver.Expr(p.Default);
            resolver.Body(m.Body);
        }
        foreach (var t in file.Trains)
        {
            var trained = models.TryGetValue(t.Model.Text, out var entry) ? entry : default;
            if (trained.Decl is not null) index.Add(t.Model.Span, trained.Decl);
            var name = t.Name ?? t.Model;
            var decl = new SymbolDeclaration(name.Text, SymbolKind.TrainBlock, name.Span, t.Span, t.Model.Text);
            index.Declarations.Add(decl);
            if (t.Name is not null) index.Add(t.Name.Span, decl);
            if (trained.Decl is null) continue;
            var resolver = new Resolver(index, models, trained.Scope);
            foreach (var s in t.Body)
            {
                switch (s)
                {
                    case BreakStmt b:
                        resolver.Arguments(b.Method.Arguments);
                        foreach (var target in b.Symmetries) resolver.Qualified(target);
                        break;
                    case DiagnoseStmt d:
                        foreach (var metric in d.Metrics) resolver.Arguments(metric.Arguments);
                        break;
                    case InduceStmt i:
                        resolver.Expr(i.Target);
                        if (i.Arguments is not null) resolver.Arguments(i.Arguments);
                        break;
                    case SettingStmt setting:
                        resolver.Expr(setting.Value);
                        break;
                }
            }
        }
        return index;
    }

    void Add(SourceSpan span, SymbolDeclaration symbol)
    {
        if (!span.IsNone) occurrences.Add((span, symbol));
    }

    void Declare(SymbolDeclaration model, Dictionary<string, SymbolDeclaration> scope, Identifier name, SymbolKind kind, SourceSpan span, string? layerKind)
    {
        if (scope.TryGetValue(name.Text, out var existing))
        {
            // `h = …` written again (or a name redeclared, an error the checker reports): a use of the first declaration.
            Add(name.Span, existing);
            return;
        }
        var decl = new SymbolDeclaration(name.Text, kind, name.Span, span, model.Name) { LayerKind = layerKind };
        scope[name.Text] = decl;
        model.Children.Add(decl);
        Add(name.Span, decl);
    }

    void DeclareBody(SymbolDeclaration model, Dictionary<string, SymbolDeclaration> scope, IReadOnlyList<ModelStmt> body)
    {
        foreach (var s in body)
        {
            switch (s)
            {
                case InputStmt i: Declare(model, scope, i.Name, SymbolKind.Input, i.Span, null); break;
                case LayerStmt l: Declare(model, scope, l.Target.Name, SymbolKind.Layer, l.Span, l.Kind.Text); break;
                case AssignStmt a: Declare(model, scope, a.Target.Name, a.IsOutput ? SymbolKind.Output : SymbolKind.Site, a.Span, null); break;
                case SymmetryStmt y: Declare(model, scope, y.Name.Name, SymbolKind.Symmetry, y.Span, null); break;
                case BrokenStmt { Target: { } target } b: Declare(model, scope, target.Name, b.IsLayer ? SymbolKind.Layer : SymbolKind.Site, b.Span, null); break;
                case ForStmt f:
                    Declare(model, scope, f.Variable, SymbolKind.LoopVariable, f.Span, null);
                    DeclareBody(model, scope, f.Body);
                    break;
            }
        }
    }

    /// <summary>Resolves the uses of names in one scope (a model's body, or a train block's model).</summary>
    sealed class Resolver(SymbolIndex index, Dictionary<string, (SymbolDeclaration Decl, Dictionary<string, SymbolDeclaration> Scope)> models, Dictionary<string, SymbolDeclaration> scope)
    {
        public void Body(IReadOnlyList<ModelStmt> body)
        {
            foreach (var s in body)
            {
                switch (s)
                {
                    case InputStmt i: foreach (var e in i.Shape) Expr(e); break;
                    case LayerStmt l:
                        Expr(l.Target.Index);
                        if (models.TryGetValue(l.Kind.Text, out var block)) index.Add(l.Kind.Span, block.Decl);
                        Arguments(l.Arguments);
                        break;
                    case AssignStmt a: Expr(a.Target.Index); Expr(a.Value); break;
                    case SymmetryStmt y: Expr(y.Name.Index); Arguments(y.Arguments); break;
                    case ForStmt f: Expr(f.From); Expr(f.To); Body(f.Body); break;
                }
            }
        }

        public void Arguments(IReadOnlyList<Argument> arguments)
        {
            foreach (var a in arguments) Expr(a.Value);
        }

        /// <summary><c>perm</c>, <c>blk[1].perm</c> in a <c>break … on</c> list.</summary>
        public void Qualified(IndexedName name)
        {
            var current = scope;
            foreach (var part in name.Qualifier)
            {
                Expr(part.Index);
                if (current.TryGetValue(part.Name.Text, out var decl)) index.Add(part.Name.Span, decl);
                current = BlockScope(decl) ?? new Dictionary<string, SymbolDeclaration>();
            }
            Expr(name.Index);
            if (current.TryGetValue(name.Name.Text, out var target)) index.Add(name.Name.Span, target);
        }

        Dictionary<string, SymbolDeclaration>? BlockScope(SymbolDeclaration? layer)
            => layer is { Kind: SymbolKind.Layer, LayerKind: { } kind } && models.TryGetValue(kind, out var block) ? block.Scope : null;

        public void Expr(Expr? e) => Resolve(e);

        /// <summary>Records the uses inside <paramref name="e"/>; returns the declaration <paramref name="e"/> itself names, if any.</summary>
        SymbolDeclaration? Resolve(Expr? e)
        {
            switch (e)
            {
                case NameExpr n:
                    if (scope.TryGetValue(n.Name, out var decl)) { index.Add(n.Span, decl); return decl; }
                    return null;
                case IndexExpr i:
                    Resolve(i.Index);
                    return Resolve(i.Target);
                case MemberExpr m:
                    // b.h (a block instance's output), b.fc1.weight: the member resolves in the block's model.
                    var target = Resolve(m.Target);
                    if (BlockScope(target) is { } inner && inner.TryGetValue(m.Member.Text, out var member)) { index.Add(m.Member.Span, member); return member; }
                    return null;
                case CallExpr c:
                    Resolve(c.Callee);
                    Arguments(c.Arguments);
                    return null;
                case UnaryExpr u: Resolve(u.Operand); return null;
                case BinaryExpr b: Resolve(b.Left); Resolve(b.Right); return null;
                case ListExpr l: foreach (var item in l.Items) Resolve(item); return null;
                default: return null;
            }
        }
    }
}
