using SymDsl.Text;

namespace SymDsl.Syntax;

// The typed syntax tree of a .sym file. Built once from the ANTLR parse tree by SyntaxTreeBuilder;
// nothing past the parser sees ANTLR types. Parts the parser could not recover are ErrorExpr or
// left out (statements that failed to parse are dropped after their syntax error was reported).

public abstract record SyntaxNode(SourceSpan Span);

public sealed record Identifier(string Text, SourceSpan Span) : SyntaxNode(Span)
{
    public override string ToString() => Text;
}

public sealed record FileSyntax(IReadOnlyList<ModelDecl> Models, IReadOnlyList<TrainDecl> Trains, SourceSpan Span) : SyntaxNode(Span)
{
    /// <summary>The file's <c>import "PATH"</c> declarations, in order.</summary>
    public IReadOnlyList<ImportDecl> Imports { get; init; } = [];
}

/// <summary><c>import "blocks.sym"</c>: <see cref="Path"/> as written (relative to the importing file).</summary>
public sealed record ImportDecl(string Path, SourceSpan Span) : SyntaxNode(Span);

// ---------------------------------------------------------------- models

/// <summary><c>model NAME(params) { body }</c>.</summary>
public sealed record ModelDecl(Identifier Name, IReadOnlyList<ParamDecl> Parameters, IReadOnlyList<ModelStmt> Body, SourceSpan Span) : SyntaxNode(Span);

/// <summary><c>width: int = 128</c>.</summary>
public sealed record ParamDecl(Identifier Name, Identifier Type, Expr? Default, SourceSpan Span) : SyntaxNode(Span);

/// <summary><c>h</c> or <c>h[i - 1]</c>.</summary>
public sealed record IndexedName(Identifier Name, Expr? Index, SourceSpan Span) : SyntaxNode(Span)
{
    /// <summary>In a <c>break … on</c> list, the parts before a qualified name's last (<c>blk[1]</c> of <c>blk[1].perm</c>); else empty.</summary>
    public IReadOnlyList<IndexedName> Qualifier { get; init; } = [];
}

public abstract record ModelStmt(SourceSpan Span) : SyntaxNode(Span);

/// <summary><c>input x: [64]</c>, <c>input tokens: int [16]</c>.</summary>
public sealed record InputStmt(Identifier Name, Identifier? ElementType, IReadOnlyList<Expr> Shape, SourceSpan Span) : ModelStmt(Span);

/// <summary><c>layer fc1 = Linear(64, width)</c>.</summary>
public sealed record LayerStmt(IndexedName Target, Identifier Kind, IReadOnlyList<Argument> Arguments, SourceSpan Span) : ModelStmt(Span);

/// <summary><c>h = relu(fc1(x))</c>, or with <see cref="IsOutput"/> <c>output logits = fc2(h)</c>.</summary>
public sealed record AssignStmt(IndexedName Target, Expr Value, bool IsOutput, SourceSpan Span) : ModelStmt(Span);

/// <summary><c>symmetry perm : permutation(h)</c>.</summary>
public sealed record SymmetryStmt(IndexedName Name, Identifier Kind, IReadOnlyList<Argument> Arguments, SourceSpan Span) : ModelStmt(Span);

/// <summary><c>for i in 1..depth { … }</c> (both bounds inclusive).</summary>
public sealed record ForStmt(Identifier Variable, Expr From, Expr To, IReadOnlyList<ModelStmt> Body, SourceSpan Span) : ModelStmt(Span);

/// <summary>
/// A statement that did not parse (its syntax error was reported). Kept so that the name it declares is known:
/// later uses of that name are then not reported again as undefined.
/// </summary>
public sealed record BrokenStmt(IndexedName? Target, bool IsLayer, SourceSpan Span) : ModelStmt(Span);

// ---------------------------------------------------------------- training

/// <summary><c>train MODEL { … }</c>. <see cref="HasSyntaxErrors"/>: some statement did not parse and was dropped.</summary>
public sealed record TrainDecl(Identifier Model, IReadOnlyList<TrainStmt> Body, SourceSpan Span, bool HasSyntaxErrors = false) : SyntaxNode(Span)
{
    /// <summary>The NAME of <c>train MODEL as NAME { … }</c>, or null.</summary>
    public Identifier? Name { get; init; }
}

public abstract record TrainStmt(SourceSpan Span) : SyntaxNode(Span);

/// <summary><c>break syre(sigma = 0.1) on perm, scale</c>.</summary>
public sealed record BreakStmt(CallSyntax Method, IReadOnlyList<IndexedName> Symmetries, SourceSpan Span) : TrainStmt(Span);

/// <summary><c>diagnose collapse(scale), rank(fc1.weight) every 10 steps</c>.</summary>
public sealed record DiagnoseStmt(IReadOnlyList<CallSyntax> Metrics, Expr? Every, Identifier? Unit, SourceSpan Span) : TrainStmt(Span);

/// <summary><c>teleport rescale(h), rotation(z) every 50 steps</c>: each group as <c>KIND(SITE)</c> or a declared symmetry's name.</summary>
public sealed record TeleportStmt(IReadOnlyList<CallSyntax> Groups, Expr? Every, Identifier? Unit, SourceSpan Span) : TrainStmt(Span);

/// <summary><c>induce sparsity on fc1.weight</c>, <c>induce lowrank(rank = 4) on fc1.weight</c>.</summary>
public sealed record InduceStmt(Identifier Structure, Expr Target, SourceSpan Span, IReadOnlyList<Argument>? Arguments = null) : TrainStmt(Span);

/// <summary><c>batch 64</c>, <c>data digits()</c>, <c>log every 10 steps</c>.</summary>
public sealed record SettingStmt(Identifier Key, Expr? Value, Expr? Every, Identifier? Unit, SourceSpan Span) : TrainStmt(Span);

/// <summary><c>syre(sigma = 0.1)</c> or a bare <c>syre</c>.</summary>
public sealed record CallSyntax(Identifier Callee, IReadOnlyList<Argument> Arguments, SourceSpan Span) : SyntaxNode(Span);

/// <summary>A positional (<see cref="Name"/> null) or named argument.</summary>
public sealed record Argument(Identifier? Name, Expr Value, SourceSpan Span) : SyntaxNode(Span);

// ---------------------------------------------------------------- expressions

public abstract record Expr(SourceSpan Span) : SyntaxNode(Span);

public sealed record NameExpr(string Name, SourceSpan Span) : Expr(Span);
public sealed record MemberExpr(Expr Target, Identifier Member, SourceSpan Span) : Expr(Span);
public sealed record IndexExpr(Expr Target, Expr Index, SourceSpan Span) : Expr(Span);
public sealed record CallExpr(Expr Callee, IReadOnlyList<Argument> Arguments, SourceSpan Span) : Expr(Span);
public sealed record UnaryExpr(string Operator, Expr Operand, SourceSpan Span) : Expr(Span);
public sealed record BinaryExpr(string Operator, Expr Left, Expr Right, SourceSpan Span) : Expr(Span);
public sealed record ListExpr(IReadOnlyList<Expr> Items, SourceSpan Span) : Expr(Span);
public sealed record IntLiteral(long Value, SourceSpan Span) : Expr(Span);
public sealed record FloatLiteral(double Value, SourceSpan Span) : Expr(Span);
public sealed record StringLiteral(string Value, SourceSpan Span) : Expr(Span);
public sealed record BoolLiteral(bool Value, SourceSpan Span) : Expr(Span);
/// <summary>Where the parser recovered from an error; the error was already reported.</summary>
public sealed record ErrorExpr(SourceSpan Span) : Expr(Span);
