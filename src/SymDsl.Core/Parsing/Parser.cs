using Antlr4.Runtime;
using Antlr4.Runtime.Misc;
using Antlr4.Runtime.Tree;
using SymDsl.Diagnostics;
using SymDsl.Grammar;
using SymDsl.Syntax;
using SymDsl.Text;

namespace SymDsl.Parsing;

/// <summary>Text → <see cref="FileSyntax"/>, with every syntax error as a diagnostic. Never prints, never throws on bad input.</summary>
public static class Parser
{
    public static FileSyntax Parse(string path, string text, List<Diagnostic> diagnostics)
    {
        if (text.Length > MaxSourceChars)
        {
            diagnostics.Add(DiagnosticCatalog.SourceTooLarge(SourceSpan.None(path), MaxSourceChars));
            return new FileSyntax([], [], SourceSpan.None(path));
        }
        var listener = new ErrorCollector(path, diagnostics);
        var lexer = new BoundedLexer(new AntlrInputStream(NormalizeLineEnds(text)));
        lexer.RemoveErrorListeners();
        lexer.AddErrorListener(listener);
        var tokens = new CommonTokenStream(lexer);
        tokens.Fill();
        if (lexer.Overflow)
        {
            diagnostics.Add(DiagnosticCatalog.FileTooLarge(SourceSpan.None(path), MaxTokens));
            return new FileSyntax([], [], SourceSpan.None(path));
        }
        if (!WithinLimits(path, tokens, diagnostics)) return new FileSyntax([], [], SourceSpan.None(path));
        ReportUnreadableCharacters(path, tokens, diagnostics);
        var parser = new SymParser(tokens);
        parser.RemoveErrorListeners();
        parser.AddErrorListener(listener);
        parser.ErrorHandler = new SymErrorStrategy();
        var tree = parser.file();
        return new SyntaxTreeBuilder(path, diagnostics).BuildFile(tree);
    }

    /// <summary>
    /// The largest source the compiler reads, in characters (UTF-16 code units; the file-size check in
    /// <see cref="Compiler.CompileFile"/> uses the same number of bytes). Larger sources are refused before lexing.
    /// </summary>
    public const int MaxSourceChars = 8 << 20;

    /// <summary>CR LF and a lone CR end a line as LF does, so that lines and columns count alike for all three.</summary>
    public static string NormalizeLineEnds(string text)
        => text.Contains('\r') ? text.Replace("\r\n", "\n").Replace('\r', '\n') : text;

    /// <summary>
    /// Every character the lexer cannot read (ERROR_CHAR, kept off the parser's channel) is SYM0102 at its line and
    /// column; a run of adjacent ones is one diagnostic spanning the run.
    /// </summary>
    static void ReportUnreadableCharacters(string path, CommonTokenStream tokens, List<Diagnostic> diagnostics)
    {
        var all = tokens.GetTokens();
        var reported = 0;
        for (int i = 0; i < all.Count && reported < MaxUnreadableReports; i++)
        {
            var first = all[i];
            if (first.Type != SymLexer.ERROR_CHAR) continue;
            var last = first;
            var run = new System.Text.StringBuilder(first.Text);
            while (i + 1 < all.Count && all[i + 1].Type == SymLexer.ERROR_CHAR && all[i + 1].StartIndex == last.StopIndex + 1 && all[i + 1].Line == first.Line)
            {
                last = all[++i];
                run.Append(last.Text);
            }
            var span = new SourceSpan(path, first.Line, first.Column + 1, first.Line, last.Column + 1 + Math.Max(1, last.Text?.Length ?? 1));
            diagnostics.Add(DiagnosticCatalog.UnexpectedCharacter(span, DescribeCharacters(run.ToString())));
            reported++;
        }
    }

    /// <summary>At most this many SYM0102 diagnostics per file (a binary file would otherwise give one per few bytes).</summary>
    public const int MaxUnreadableReports = 1000;

    /// <summary>
    /// <c>'Ω'</c>, <c>U+0000</c>, <c>'ab…' (40 characters)</c>: printable characters quoted, others (controls, format
    /// characters, separators, lone surrogates, unassigned) as code points, so that the message stays on one line.
    /// </summary>
    internal static string DescribeCharacters(string text)
    {
        const int Shown = 8;
        var parts = new List<string>();
        int count = 0;
        var printable = new System.Text.StringBuilder();
        void Flush() { if (printable.Length > 0) { parts.Add($"'{printable}'"); printable.Clear(); } }
        for (int i = 0; i < text.Length;)
        {
            System.Text.Rune rune;
            int width;
            if (System.Text.Rune.TryCreate(text[i], out rune)) width = 1;
            else if (i + 1 < text.Length && System.Text.Rune.TryCreate(text[i], text[i + 1], out rune)) width = 2;
            else { rune = default; width = 1; }
            if (count < Shown)
            {
                if (width == 1 && char.IsSurrogate(text[i])) { Flush(); parts.Add($"U+{(int)text[i]:X4}"); }
                else if (Printable(rune)) printable.Append(rune.ToString());
                else { Flush(); parts.Add($"U+{rune.Value:X4}"); }
            }
            count++;
            i += width;
        }
        Flush();
        var shown = string.Join(" ", parts);
        return count <= Shown ? shown : $"{shown} … ({count} characters)";
    }

    static bool Printable(System.Text.Rune r) => System.Text.Rune.GetUnicodeCategory(r) switch
    {
        System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.Surrogate or System.Globalization.UnicodeCategory.LineSeparator
            or System.Globalization.UnicodeCategory.ParagraphSeparator or System.Globalization.UnicodeCategory.SpaceSeparator
            or System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.OtherNotAssigned
            or System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.EnclosingMark => false,
        // U+FFFD stands for bytes that are not valid UTF-8: show its code rather than the replacement glyph.
        _ => r.Value is not ('\'' or 0xFFFD),
    };

    public const int MaxNesting = 200;
    public const int MaxTokens = 1_000_000;

    /// <summary>A lexer that stops after <see cref="MaxTokens"/> tokens (hidden ones included), so that memory stays bounded.</summary>
    sealed class BoundedLexer(ICharStream input) : SymLexer(input)
    {
        int count;
        public bool Overflow { get; private set; }

        public override IToken NextToken()
        {
            if (!Overflow && ++count <= MaxTokens) return base.NextToken();
            Overflow = true;
            return EmitEOF();
        }
    }

    /// <summary>Guards the recursive parser and tree walks: bounded bracket nesting.</summary>
    static bool WithinLimits(string path, CommonTokenStream tokens, List<Diagnostic> diagnostics)
    {
        var all = tokens.GetTokens();
        var depth = 0;
        foreach (var t in all)
        {
            if (t.Channel != TokenConstants.DefaultChannel) continue;
            // By token type rather than by text: no substring per token. The grammar has no lexer actions that set
            // text, and only the bracket literals lex to "(" "[" "{" ")" "]" "}", so the two tests agree.
            switch (BracketOf(t.Type))
            {
                case '(':
                    if (++depth > MaxNesting)
                    {
                        diagnostics.Add(DiagnosticCatalog.NestingTooDeep(new SourceSpan(path, t.Line, t.Column + 1, t.Line, t.Column + 2), MaxNesting));
                        return false;
                    }
                    break;
                case ')':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }
        return true;
    }

    /// <summary>Per token type: '(' for an opening bracket token, ')' for a closing one, '\0' otherwise.</summary>
    static readonly char[] Brackets = BracketTable();

    static char BracketOf(int type) => (uint)type < (uint)Brackets.Length ? Brackets[type] : '\0';

    static char[] BracketTable()
    {
        var vocabulary = SymLexer.DefaultVocabulary;
        var table = new char[SymLexer._ATN.maxTokenType + 1];
        for (int t = 0; t < table.Length; t++)
            table[t] = vocabulary.GetLiteralName(t) switch
            {
                "'('" or "'['" or "'{'" => '(',
                "')'" or "']'" or "'}'" => ')',
                _ => '\0',
            };
        return table;
    }

    /// <summary>Default ANTLR recovery (single-token insertion/deletion, then resynchronisation), adjusted for lists and
    /// declarations. ERROR_CHAR tokens never reach the parser (their own channel); <see cref="ReportUnreadableCharacters"/> reports them.</summary>
    sealed class SymErrorStrategy : DefaultErrorStrategy
    {
        /// <summary>
        /// Inside a comma-separated list (arguments, parameters, shapes) do not resynchronise by deleting tokens up to
        /// the next ',' or ')': that can swallow a whole model body. Leaving the list lets the closing token be
        /// conjured instead ("missing ')' at '{'"). Statement loops keep ANTLR's resynchronisation.
        /// </summary>
        public override void Sync(Antlr4.Runtime.Parser recognizer)
        {
            // A new top-level declaration ends the current one: leave the statement loop and let the missing '}'
            // be conjured, instead of deleting the next declaration.
            if (recognizer.InputStream.LA(1) is SymLexer.MODEL or SymLexer.TRAIN or SymLexer.IMPORT && recognizer.Context is not SymParser.FileContext) return;
            if (ExpectsCloser(recognizer)) return;
            base.Sync(recognizer);
        }

        int[]? closers;

        /// <summary>
        /// Whether the full-context expected tokens (<c>recognizer.GetExpectedTokens()</c>) hold ')' or ']'.
        /// Sync runs at every loop iteration and sub-rule of the parse, so this walks the same follow sets as
        /// <c>ATN.GetExpectedTokens</c> (each cached in its ATN state) without building their union, and stops at the first hit.
        /// </summary>
        bool ExpectsCloser(Antlr4.Runtime.Parser recognizer)
        {
            closers ??= Closers(recognizer.Vocabulary, recognizer.Atn.maxTokenType);
            var atn = recognizer.Atn;
            var following = atn.NextTokens(atn.states[recognizer.State]);
            if (ContainsAny(following, closers)) return true;
            RuleContext ctx = recognizer.Context;
            while (ctx is not null && ctx.invokingState >= 0 && following.Contains(TokenConstants.EPSILON))
            {
                var rt = (Antlr4.Runtime.Atn.RuleTransition)atn.states[ctx.invokingState].Transition(0);
                following = atn.NextTokens(rt.followState);
                if (ContainsAny(following, closers)) return true;
                ctx = ctx.Parent;
            }
            return false;
        }

        static bool ContainsAny(IntervalSet set, int[] types)
        {
            foreach (var t in types) if (set.Contains(t)) return true;
            return false;
        }

        static int[] Closers(IVocabulary vocabulary, int maxTokenType)
        {
            var list = new List<int>();
            for (int t = 0; t <= maxTokenType; t++)
                if (vocabulary.GetLiteralName(t) is "')'" or "']'") list.Add(t);
            return [.. list];
        }

    }

    sealed class ErrorCollector(string path, List<Diagnostic> diagnostics) : IAntlrErrorListener<IToken>, IAntlrErrorListener<int>
    {
        readonly HashSet<(int, int)> seen = [];

        public void SyntaxError(TextWriter output, IRecognizer recognizer, IToken offendingSymbol, int line, int charPositionInLine, string msg, RecognitionException e)
        {
            if (!seen.Add((line, charPositionInLine))) return;
            var len = Math.Max(1, offendingSymbol?.Text?.Length ?? 1);
            var span = new SourceSpan(path, line, charPositionInLine + 1, line, charPositionInLine + 1 + len);
            if (e is NoViableAltException && offendingSymbol is not null)
                msg = offendingSymbol.Type == TokenConstants.EOF ? "unexpected end of file" : $"unexpected '{offendingSymbol.Text}'";
            diagnostics.Add(DiagnosticCatalog.SyntaxError(span, Friendly(msg)));
        }

        public void SyntaxError(TextWriter output, IRecognizer recognizer, int offendingSymbol, int line, int charPositionInLine, string msg, RecognitionException e)
        {
            // The lexer never fails (ERROR_CHAR takes any character), but keep this total.
            if (!seen.Add((line, charPositionInLine))) return;
            diagnostics.Add(DiagnosticCatalog.UnexpectedCharacter(new SourceSpan(path, line, charPositionInLine + 1, line, charPositionInLine + 2), msg));
        }

        static string Friendly(string msg) => msg
            .Replace("'<EOF>'", "end of file").Replace("<EOF>", "end of file")
            .Replace("mismatched input", "unexpected")
            .Replace("extraneous input", "unexpected")
            .Replace("no viable alternative at input", "cannot parse")
            is var m && System.Text.RegularExpressions.Regex.Match(m, @"^(.*) expecting \{(.*)\}$") is { Success: true } g
                ? $"{g.Groups[1].Value}; expected one of {g.Groups[2].Value}" : m.Replace(" expecting ", "; expected ");
    }
}

/// <summary>The one place that reads ANTLR parse trees: converts them to the typed syntax tree.</summary>
internal sealed class SyntaxTreeBuilder(string path, List<Diagnostic> diagnostics)
{
    public FileSyntax BuildFile(SymParser.FileContext ctx)
    {
        var models = new List<ModelDecl>();
        var trains = new List<TrainDecl>();
        var imports = new List<ImportDecl>();
        foreach (var top in ctx.topDecl())
        {
            if (top.modelDecl() is { } m && Ok(m.name) && m.ChildCount > 0) models.Add(Model(m));
            else if (top.trainDecl() is { } t && Ok(t.model)) trains.Add(Train(t));
            else if (top.importDecl() is { } i && Ok(i.path) && !HasErrors(i)) imports.Add(new ImportDecl(Unescape(i.path.Text), Span(i)));
        }
        return new FileSyntax(models, trains, Span(ctx)) { Imports = imports };
    }

    ModelDecl Model(SymParser.ModelDeclContext ctx)
    {
        var ps = new List<ParamDecl>();
        foreach (var p in ctx.paramList()?.param() ?? [])
        {
            if (!Ok(p.name) || !Ok(p.type) || HasErrors(p)) continue;
            ps.Add(new ParamDecl(Id(p.name), Id(p.type), p.value is null ? null : Expr(p.value), Span(p)));
        }
        return new ModelDecl(Id(ctx.name), ps, ModelBody(ctx.modelStmt()), Span(ctx));
    }

    List<ModelStmt> ModelBody(IEnumerable<SymParser.ModelStmtContext> stmts)
    {
        var list = new List<ModelStmt>();
        foreach (var s in stmts)
        {
            if (s is SymParser.ForStmtContext f)
            {
                // A for block keeps its body even if its header is broken elsewhere.
                if (!Ok(f.var) || f.from is null || f.to is null || HasErrors(f.from) || HasErrors(f.to)) { continue; }
                list.Add(new ForStmt(Id(f.var), Expr(f.from), Expr(f.to), ModelBody(f.modelStmt()), Span(f)));
                continue;
            }
            if (s is SymParser.LayerStmtContext { target: null } unnamed && !HasErrors(s))
            {
                // The grammar lets the name be missing so that the rest of the statement parses; say so here.
                diagnostics.Add(DiagnosticCatalog.SyntaxError(TokenSpan(unnamed.Start), "a layer needs a name: `layer NAME = Kind(…)`"));
                list.Add(new BrokenStmt(null, true, Span(s)));
                continue;
            }
            if (HasErrors(s))
            {
                list.Add(Broken(s));
                continue;
            }
            ModelStmt? stmt = s switch
            {
                SymParser.InputStmtContext i when Ok(i.name) && i.shape() is { } sh =>
                    new InputStmt(Id(i.name), i.elemType is null ? null : Id(i.elemType), sh.expr().Select(Expr).ToList(), Span(i)),
                SymParser.LayerStmtContext l when l.target is not null && Ok(l.kind) =>
                    new LayerStmt(Indexed(l.target), Id(l.kind), Args(l.argList()), Span(l)),
                SymParser.OutputStmtContext o when o.target is not null && o.value is not null =>
                    new AssignStmt(Indexed(o.target), Expr(o.value), true, Span(o)),
                SymParser.AssignStmtContext a when a.target is not null && a.value is not null =>
                    new AssignStmt(Indexed(a.target), Expr(a.value), false, Span(a)),
                SymParser.SymmetryStmtContext y when y.name is not null && Ok(y.kind) =>
                    new SymmetryStmt(Indexed(y.name), Id(y.kind), Args(y.argList()), Span(y)),
                _ => null,
            };
            if (stmt is not null) list.Add(stmt);
        }
        return list;
    }

    BrokenStmt Broken(SymParser.ModelStmtContext s)
    {
        var (target, isLayer) = s switch
        {
            SymParser.LayerStmtContext l => (l.target, true),
            SymParser.OutputStmtContext o => (o.target, false),
            SymParser.AssignStmtContext a => (a.target, false),
            _ => (null, false),
        };
        IndexedName? name = null;
        if (target is not null && target.ID() is { } id && Ok(id.Symbol) && (target.expr() is null || !HasErrors(target.expr())))
            name = Indexed(target);
        return new BrokenStmt(name, isLayer, Span(s));
    }

    TrainDecl Train(SymParser.TrainDeclContext ctx)
    {
        var list = new List<TrainStmt>();
        var broken = HasErrors(ctx);
        foreach (var s in ctx.trainStmt())
        {
            if (HasErrors(s)) continue;
            TrainStmt? stmt = s switch
            {
                SymParser.BreakStmtContext b when b.method is not null && b.nameList() is { } nl =>
                    new BreakStmt(Call(b.method), nl.qualifiedName().Select(Qualified).ToList(), Span(b)),
                SymParser.DiagnoseStmtContext d =>
                    new DiagnoseStmt(d.call().Select(Call).ToList(), d.every is null ? null : Expr(d.every), d.unit is null ? null : Id(d.unit), Span(d)),
                SymParser.TeleportStmtContext t =>
                    new TeleportStmt(t.call().Select(Call).ToList(), t.every is null ? null : Expr(t.every), t.unit is null ? null : Id(t.unit), Span(t)),
                SymParser.InduceStmtContext i when Ok(i.structure) && i.target is not null =>
                    new InduceStmt(Id(i.structure), Expr(i.target), Span(i), Args(i.argList())),
                SymParser.SettingStmtContext st when Ok(st.key) =>
                    new SettingStmt(Id(st.key), st.value is null ? null : Expr(st.value), st.every is null ? null : Expr(st.every), st.unit is null ? null : Id(st.unit), Span(st)),
                _ => null,
            };
            if (stmt is not null) list.Add(stmt);
        }
        return new TrainDecl(Id(ctx.model), list, Span(ctx), broken) { Name = ctx.name is { } n && Ok(n) ? Id(n) : null };
    }

    CallSyntax Call(SymParser.CallContext c) => new(Id(c.callee), Args(c.argList()), Span(c));

    /// <summary><c>blk[1].perm</c>: the last part, with the others as its <see cref="IndexedName.Qualifier"/>.</summary>
    IndexedName Qualified(SymParser.QualifiedNameContext c)
    {
        var parts = c.indexedName().Select(Indexed).ToList();
        return parts[^1] with { Qualifier = parts[..^1], Span = Span(c) };
    }

    IndexedName Indexed(SymParser.IndexedNameContext c)
        => new(Id(c.ID().Symbol), c.expr() is { } e ? Expr(e) : null, Span(c));

    List<Argument> Args(SymParser.ArgListContext? ctx)
        => ctx is null ? [] : ctx.arg().Where(a => a.value is not null)
            .Select(a => new Argument(a.name is null ? null : Id(a.name.Start), Expr(a.value), Span(a))).ToList();

    Expr Expr(SymParser.ExprContext? ctx)
    {
        if (ctx is null || ctx.exception is not null) return new ErrorExpr(ctx is null ? SourceSpan.None(path) : Span(ctx));
        var span = Span(ctx);
        switch (ctx)
        {
            case SymParser.MemberExprContext m:
                return Ok(m.member) ? new MemberExpr(Expr(m.expr()), Id(m.member), span) : new ErrorExpr(span);
            case SymParser.IndexExprContext i:
                return new IndexExpr(Expr(i.expr(0)), Expr(i.index), span);
            case SymParser.CallExprContext c:
                return new CallExpr(Expr(c.callee), Args(c.argList()), span);
            case SymParser.UnaryExprContext u:
                return new UnaryExpr(u.op?.Text ?? "-", Expr(u.expr()), span);
            case SymParser.MulExprContext mul:
                return new BinaryExpr(mul.op?.Text ?? "*", Expr(mul.lhs), Expr(mul.rhs), span);
            case SymParser.AddExprContext add:
                return new BinaryExpr(add.op?.Text ?? "+", Expr(add.lhs), Expr(add.rhs), span);
            case SymParser.ParenExprContext p:
                return Expr(p.expr());
            case SymParser.ListExprContext l:
                return new ListExpr(l.expr().Select(Expr).ToList(), span);
            case SymParser.IntLitContext n:
                if (long.TryParse(n.GetText(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)) return new IntLiteral(v, span);
                diagnostics.Add(DiagnosticCatalog.NumberOutOfRange(span, Shorten(n.GetText()), "ints are 64-bit, at most 9223372036854775807"));
                return new ErrorExpr(span);
            case SymParser.FloatLitContext f:
                if (Numbers.ParseFinite(f.GetText()) is { } d) return new FloatLiteral(d, span);
                diagnostics.Add(DiagnosticCatalog.NumberOutOfRange(span, Shorten(f.GetText()), "floats are 64-bit, at most about 1.8e308"));
                return new ErrorExpr(span);
            case SymParser.StringLitContext s:
                return new StringLiteral(Unescape(s.GetText()), span);
            case SymParser.BoolLitContext b:
                return new BoolLiteral(b.TRUE() is not null, span);
            case SymParser.NameExprContext n:
                return new NameExpr(n.GetText(), span);
            default:
                return new ErrorExpr(span);
        }
    }

    static string Shorten(string text) => text.Length <= 40 ? text : text[..20] + "…" + text[^8..];

    static string Unescape(string quoted)
    {
        var s = quoted.Length >= 2 ? quoted[1..^1] : "";
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                i++;
                sb.Append(s[i] switch { 'n' => '\n', 't' => '\t', _ => s[i] });
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    static bool Ok(IToken? t) => t is not null && t.TokenIndex >= 0 && !string.IsNullOrEmpty(t.Text) && !t.Text.StartsWith("<missing", StringComparison.Ordinal);

    /// <summary>True when the subtree holds a recovery artefact: an error node, a conjured token, or a failed rule.</summary>
    static bool HasErrors(IParseTree? t)
    {
        switch (t)
        {
            case null: return false;
            case IErrorNode: return true;
            case ITerminalNode term: return !Ok(term.Symbol) && term.Symbol.Type != TokenConstants.EOF;
            case ParserRuleContext r:
                if (r.exception is not null) return true;
                for (int i = 0; i < r.ChildCount; i++) if (HasErrors(r.GetChild(i))) return true;
                return false;
            default: return false;
        }
    }

    Identifier Id(IToken t) => new(t.Text ?? "", TokenSpan(t));

    SourceSpan TokenSpan(IToken t)
    {
        var len = Math.Max(1, t.Text?.Length ?? 1);
        return new SourceSpan(path, t.Line, t.Column + 1, t.Line, t.Column + 1 + len);
    }

    SourceSpan Span(ParserRuleContext ctx)
    {
        var start = ctx.Start;
        var stop = ctx.Stop ?? start;
        if (start is null) return SourceSpan.None(path);
        if (stop.TokenIndex < start.TokenIndex) stop = start;
        var (endLine, endCol) = EndOf(stop);
        return new SourceSpan(path, start.Line, start.Column + 1, endLine, endCol);
    }

    static (int, int) EndOf(IToken t)
    {
        var text = t.Type == TokenConstants.EOF ? "" : t.Text ?? "";
        var nl = text.LastIndexOf('\n');
        if (nl < 0) return (t.Line, t.Column + 1 + text.Length);
        return (t.Line + text.Count(c => c == '\n'), text.Length - nl);
    }
}
