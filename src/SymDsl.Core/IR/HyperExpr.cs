namespace SymDsl.IR;

/// <summary>
/// A layer argument as written in terms of hyper-parameters (<c>Linear(in, width * 2)</c>), after loop variables were
/// substituted: a tree the C# emitter renders, so generated code can take the hyper-parameters as constructor arguments.
/// Its value is <see cref="LayerIR.Args"/>; the tree only says how it depends on the hyper-parameters.
/// </summary>
public abstract record HyperExpr
{
    /// <summary>A number or bool written in the source (or a loop variable's value).</summary>
    public sealed record Literal(Value Value) : HyperExpr;
    /// <summary>A hyper-parameter of the model.</summary>
    public sealed record Hyper(string Name) : HyperExpr;
    /// <summary><c>-x</c>, <c>+x</c>, <c>!x</c>.</summary>
    public sealed record Unary(string Operator, HyperExpr Operand) : HyperExpr;
    /// <summary><c>l OP r</c> with OP one of + - * / % and the comparisons of the constant language.</summary>
    public sealed record Binary(string Operator, HyperExpr Left, HyperExpr Right) : HyperExpr;
}
