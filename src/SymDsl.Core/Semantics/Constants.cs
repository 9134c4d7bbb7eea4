using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Syntax;

namespace SymDsl.Semantics;

/// <summary>
/// Evaluates constant expressions (hyper-parameters, loop variables, literals, + - * / %).
/// <c>/</c> on two ints is integer division (truncating); with a float operand it is real division.
/// </summary>
public sealed class Constants(IReadOnlyDictionary<string, Value> env, List<Diagnostic> diagnostics, IEnumerable<string>? otherNames = null)
{
    public IReadOnlyDictionary<string, Value> Env => env;
    public void Report(Diagnostic d) => diagnostics.Add(d);

    /// <summary>When set, every constant name this evaluator reads is added here.</summary>
    public HashSet<string>? Used { get; init; }

    /// <summary>True when <paramref name="e"/> uses only literals and names of constants.</summary>
    public bool IsConstant(Expr e) => e switch
    {
        IntLiteral or FloatLiteral or BoolLiteral or StringLiteral => true,
        NameExpr n => env.ContainsKey(n.Name),
        UnaryExpr u => IsConstant(u.Operand),
        BinaryExpr b => IsConstant(b.Left) && IsConstant(b.Right),
        _ => false,
    };

    public Value? Eval(Expr e, string what)
    {
        try { return EvalCore(e, what); }
        catch (OverflowException) { diagnostics.Add(DiagnosticCatalog.DimensionTooLarge(e.Span, what)); return null; }
    }

    public long? EvalInt(Expr e, string what)
    {
        var v = Eval(e, what);
        if (v is null) return null;
        if (v is Value.Int i) return i.V;
        diagnostics.Add(DiagnosticCatalog.TypeMismatch(e.Span, what, "an int", Describe(v)));
        return null;
    }

    public static string Describe(Value v) => v switch
    {
        Value.Int i => $"the int {i}",
        Value.Float f => $"the float {f}",
        Value.Bool b => $"the bool {b}",
        Value.Str s => $"the string {s}",
        Value.Name n => $"the name {n}",
        _ => $"the list {v}",
    };

    Value? EvalCore(Expr e, string what)
    {
        switch (e)
        {
            case IntLiteral i: return new Value.Int(i.Value);
            case FloatLiteral f: return new Value.Float(f.Value);
            case BoolLiteral b: return new Value.Bool(b.Value);
            case StringLiteral s: return new Value.Str(s.Value);
            case ErrorExpr: return null;
            case NameExpr n:
                if (env.TryGetValue(n.Name, out var v)) { Used?.Add(n.Name); return v; }
                diagnostics.Add(DiagnosticCatalog.UndefinedName(n.Span, n.Name, Names.Suggest(n.Name, env.Keys.Concat(otherNames ?? []))));
                return null;
            case ListExpr l:
                var items = new List<Value>();
                foreach (var item in l.Items) { var iv = EvalCore(item, what); if (iv is null) return null; items.Add(iv); }
                return new Value.List(items);
            case UnaryExpr u:
                var operand = EvalCore(u.Operand, what);
                return operand switch
                {
                    null => null,
                    Value.Int i when u.Operator == "-" => new Value.Int(checked(-i.V)),
                    Value.Float f when u.Operator == "-" => new Value.Float(-f.V),
                    Value.Int or Value.Float when u.Operator == "+" => operand,
                    _ => Fail(DiagnosticCatalog.TypeMismatch(u.Span, $"the operand of unary '{u.Operator}'", "a number", Describe(operand))),
                };
            case BinaryExpr b:
                var l1 = EvalCore(b.Left, what);
                var r1 = EvalCore(b.Right, what);
                if (l1 is null || r1 is null) return null;
                if (l1 is Value.Int li && r1 is Value.Int ri)
                {
                    if ((b.Operator is "/" or "%") && ri.V == 0) return Fail(DiagnosticCatalog.DivisionByZero(b.Span));
                    return new Value.Int(b.Operator switch
                    {
                        "+" => checked(li.V + ri.V),
                        "-" => checked(li.V - ri.V),
                        "*" => checked(li.V * ri.V),
                        "/" => li.V / ri.V,
                        _ => li.V % ri.V,
                    });
                }
                if (l1 is Value.Int or Value.Float && r1 is Value.Int or Value.Float)
                {
                    double x = l1.AsDouble(), y = r1.AsDouble();
                    if ((b.Operator is "/" or "%") && y == 0) return Fail(DiagnosticCatalog.DivisionByZero(b.Span));
                    var r = b.Operator switch { "+" => x + y, "-" => x - y, "*" => x * y, "/" => x / y, _ => x % y };
                    if (!double.IsFinite(r)) return Fail(DiagnosticCatalog.NotFinite(b.Span, $"'{b.Operator}' in {what}", r));
                    return new Value.Float(r);
                }
                return Fail(DiagnosticCatalog.TypeMismatch(b.Span, $"the operands of '{b.Operator}'", "numbers", $"{Describe(l1)} and {Describe(r1)}"));
            default:
                return Fail(DiagnosticCatalog.NotConstant(e.Span, what));
        }
    }

    Value? Fail(Diagnostic d) { diagnostics.Add(d); return null; }


    /// <summary>
    /// The argument <paramref name="e"/> as a tree over the hyper-parameters <paramref name="hyperNames"/> (loop variables
    /// replaced by their values), or null when it mentions no hyper-parameter or uses something a tree cannot express.
    /// </summary>
    public static HyperExpr? Tree(Expr e, IReadOnlyDictionary<string, Value> env, ICollection<string> hyperNames)
    {
        var mentions = false;
        HyperExpr? T(Expr x) => x switch
        {
            IntLiteral i => new HyperExpr.Literal(new Value.Int(i.Value)),
            FloatLiteral f => new HyperExpr.Literal(new Value.Float(f.Value)),
            BoolLiteral b => new HyperExpr.Literal(new Value.Bool(b.Value)),
            NameExpr n when hyperNames.Contains(n.Name) => Mention(n.Name),
            NameExpr n when env.TryGetValue(n.Name, out var v) && v is Value.Int => new HyperExpr.Literal(v),
            UnaryExpr u => T(u.Operand) is { } o ? new HyperExpr.Unary(u.Operator, o) : null,
            BinaryExpr b => T(b.Left) is { } l && T(b.Right) is { } r ? new HyperExpr.Binary(b.Operator, l, r) : null,
            _ => null,
        };
        HyperExpr Mention(string name) { mentions = true; return new HyperExpr.Hyper(name); }
        var tree = T(e);
        return tree is not null && mentions ? tree : null;
    }
}

/// <summary>The type of one argument of a layer, data source, optimizer, …</summary>
/// <summary>An argument's type. <see cref="FloatList"/>: a list literal of numbers, <c>[1, 0.75, 0.5]</c> (each in the spec's range).</summary>
public enum ArgType { Int, Float, Bool, String, Path, Name, Init, IntOrString, FloatList }

/// <summary>
/// The values a numeric argument may take: from <see cref="Min"/> to <see cref="Max"/>, each end included unless open.
/// Every number is also finite. A <see cref="IsDimension"/> domain is reported as a dimension (SYM0303 / SYM0603).
/// </summary>
public sealed record Domain(double Min, double Max, bool MinOpen = false, bool MaxOpen = false, bool IsDimension = false)
{
    /// <summary>A size: an int from 1 to 2³¹−1.</summary>
    public static readonly Domain Dimension = new(1, int.MaxValue, IsDimension: true);
    /// <summary>A count or period: an int from 1 to 2³¹−1.</summary>
    public static readonly Domain Count = new(1, int.MaxValue);
    public static readonly Domain Positive = new(0, double.PositiveInfinity, MinOpen: true);
    public static readonly Domain NonNegative = new(0, double.PositiveInfinity);
    /// <summary>[0, 1]: a probability or a similarity threshold.</summary>
    public static readonly Domain Probability = new(0, 1);
    /// <summary>[0, 1): a fraction that must leave something, a momentum, an Adam β.</summary>
    public static readonly Domain UnitInterval = new(0, 1, MaxOpen: true);
    /// <summary>(0, 1]: a decay ratio.</summary>
    public static readonly Domain Ratio = new(0, 1, MinOpen: true);
    /// <summary>An int index from 0 to 2³¹−1.</summary>
    public static readonly Domain Index = new(0, int.MaxValue);

    public bool Contains(double v) => double.IsFinite(v)
        && (MinOpen ? v > Min : v >= Min)
        && (MaxOpen ? v < Max : v <= Max);

    /// <summary>"positive", "at least 1", "in [0, 1)", …: what follows "must be".</summary>
    public string Describe()
    {
        if (IsDimension) return "a positive integer";
        string N(double x) => Text.Numbers.Show(x);
        if (double.IsPositiveInfinity(Max))
            return Min == 0 ? (MinOpen ? "positive" : "at least 0") : (MinOpen ? $"greater than {N(Min)}" : $"at least {N(Min)}");
        if (Min == 1 && Max == int.MaxValue && !MinOpen && !MaxOpen) return "a positive int (at most 2147483647)";
        return $"in {(MinOpen ? "(" : "[")}{N(Min)}, {N(Max)}{(MaxOpen ? ")" : "]")}";
    }
}

/// <summary>
/// One formal argument. <see cref="Default"/> null and not <see cref="Required"/>: optional, left out when absent.
/// <see cref="Range"/>: the values a numeric argument may take (checked for given values; defaults lie inside it, a test checks that).
/// </summary>
public sealed record ArgSpec(string Name, ArgType Type, Value? Default = null, bool Required = false, string[]? Options = null, Domain? Range = null)
{
    public static ArgSpec Req(string name, ArgType type, Domain? range = null) => new(name, type, null, true, null, range);
}

/// <summary>Binds positional and named arguments to a signature, checks types, fills defaults.</summary>
public static class ArgBinder
{
    /// <summary>Which expression each formal argument received (best effort; errors are reported by <see cref="Bind"/>).</summary>
    public static Dictionary<string, Expr> Map(IReadOnlyList<ArgSpec> signature, IReadOnlyList<Argument> args)
    {
        var map = new Dictionary<string, Expr>();
        var position = 0;
        foreach (var a in args)
        {
            var name = a.Name?.Text ?? (position < signature.Count ? signature[position++].Name : null);
            if (name is not null && signature.Any(s => s.Name == name)) map.TryAdd(name, a.Value);
        }
        return map;
    }

    public static readonly string[] InitKinds = ["default", "normal", "orthogonal", "zeros", "ones", "uniform"];

    /// <summary>The argument of each initialiser: a scale that is not negative.</summary>
    public static readonly IReadOnlyDictionary<string, ArgSpec[]> InitSignatures = new Dictionary<string, ArgSpec[]>
    {
        ["default"] = [], ["zeros"] = [], ["ones"] = [],
        ["normal"] = [ArgSpec.Req("std", ArgType.Float, Domain.NonNegative)],
        ["uniform"] = [ArgSpec.Req("a", ArgType.Float, Domain.NonNegative)],
        ["orthogonal"] = [new ArgSpec("gain", ArgType.Float, new Value.Float(1.0), Range: Domain.NonNegative)],
    };

    /// <returns>The bound arguments in signature order, or null when any argument was wrong (errors reported).</returns>
    /// <param name="outOfRange">The diagnostic for a value outside its <see cref="ArgSpec.Range"/> (default SYM0211; train blocks use SYM0517).</param>
    public static Dictionary<string, Value>? Bind(string what, IReadOnlyList<ArgSpec> signature, IReadOnlyList<Argument> args,
        Constants constants, List<Diagnostic> diagnostics, Text.SourceSpan span, string? baseDir = null,
        Func<Text.SourceSpan, string, string, string, Diagnostic>? outOfRange = null)
    {
        var given = new Dictionary<string, Argument>();
        var ok = true;
        var position = 0;
        foreach (var a in args)
        {
            string name;
            if (a.Name is null)
            {
                if (given.Keys.Any(k => args.Any(x => x.Name?.Text == k)))
                {
                    diagnostics.Add(DiagnosticCatalog.PositionalAfterNamed(a.Span, what));
                    ok = false; continue;
                }
                if (position >= signature.Count)
                {
                    diagnostics.Add(DiagnosticCatalog.TooManyArguments(a.Span, what, signature.Select(s => s.Name).ToList()));
                    ok = false; continue;
                }
                name = signature[position++].Name;
            }
            else
            {
                name = a.Name.Text;
                if (signature.All(s => s.Name != name))
                {
                    diagnostics.Add(DiagnosticCatalog.NoSuchArgument(a.Name.Span, what, name, Names.Suggest(name, signature.Select(s => s.Name)), signature.Select(s => s.Name).ToList()));
                    ok = false; continue;
                }
            }
            if (!given.TryAdd(name, a))
            {
                diagnostics.Add(DiagnosticCatalog.ArgumentGivenTwice(a.Span, what, name));
                ok = false;
            }
        }

        var result = new Dictionary<string, Value>();
        foreach (var spec in signature)
        {
            if (!given.TryGetValue(spec.Name, out var arg))
            {
                if (spec.Required) { diagnostics.Add(DiagnosticCatalog.MissingArgument(span, what, spec.Name)); ok = false; }
                else if (spec.Default is not null) result[spec.Name] = spec.Default;
                continue;
            }
            var v = Convert(what, spec, arg.Value, constants, diagnostics, baseDir, outOfRange ?? DiagnosticCatalog.ArgumentOutOfRange);
            if (v is null) ok = false; else result[spec.Name] = v;
        }
        return ok ? result : null;
    }

    static Value? Convert(string what, ArgSpec spec, Expr e, Constants constants, List<Diagnostic> diagnostics, string? baseDir,
        Func<Text.SourceSpan, string, string, string, Diagnostic> outOfRange)
    {
        var v = ConvertType(what, spec, e, constants, diagnostics, baseDir, outOfRange);
        var label = $"{what}: '{spec.Name}'";
        if (v is Value.List list && spec.Range is { } itemRange)
        {
            // Each item in range; the first that is not is reported at its own span when the list is a literal.
            var bad = list.Items.Select((item, i) => (item, i)).FirstOrDefault(x => !itemRange.Contains(x.item.AsDouble()));
            if (bad.item is null) return v;
            var at = e is ListExpr l && l.Items.Count == list.Items.Count ? l.Items[bad.i].Span : e.Span;
            diagnostics.Add(outOfRange(at, $"{label} item {bad.i + 1}", itemRange.Describe(), Text.Numbers.Show(bad.item.AsDouble())));
            return null;
        }
        if (v is not (Value.Int or Value.Float) || spec.Range is not { } range || range.Contains(v.AsDouble())) return v;
        var shown = v is Value.Int i ? i.V.ToString(System.Globalization.CultureInfo.InvariantCulture) : Text.Numbers.Show(v.AsDouble());
        if (range.IsDimension && v is Value.Int d)
            diagnostics.Add(d.V <= 0 ? DiagnosticCatalog.BadDimension(e.Span, label, d.V) : DiagnosticCatalog.DimensionTooLarge(e.Span, label));
        else
            diagnostics.Add(outOfRange(e.Span, label, range.Describe(), shown));
        return null;
    }

    static Value? ConvertType(string what, ArgSpec spec, Expr e, Constants constants, List<Diagnostic> diagnostics, string? baseDir,
        Func<Text.SourceSpan, string, string, string, Diagnostic> outOfRange)
    {
        var label = $"{what}: '{spec.Name}'";
        switch (spec.Type)
        {
            case ArgType.Name:
                var text = e is NameExpr n && !constants.Env.ContainsKey(n.Name) ? n.Name : (constants.Eval(e, label) is Value.Str s0 ? s0.V : null);
                if (text is null) { if (e is not NameExpr) diagnostics.Add(DiagnosticCatalog.TypeMismatch(e.Span, label, "one of " + string.Join(", ", spec.Options ?? []), "an expression")); return null; }
                if (spec.Options is not null && !spec.Options.Contains(text))
                {
                    diagnostics.Add(DiagnosticCatalog.NotAnOption(e.Span, label, spec.Options, text, Names.Suggest(text, spec.Options)));
                    return null;
                }
                return new Value.Name(text);
            case ArgType.Init:
                return ConvertInit(label, e, constants, diagnostics, outOfRange);
        }
        var v = constants.Eval(e, label);
        if (v is null) return null;
        switch (spec.Type)
        {
            case ArgType.Int when v is Value.Int:
            case ArgType.Bool when v is Value.Bool:
            case ArgType.String when v is Value.Str:
            case ArgType.IntOrString when v is Value.Int or Value.Str:
                return v;
            case ArgType.Float when v is Value.Int or Value.Float:
                return new Value.Float(v.AsDouble());
            case ArgType.FloatList when v is Value.List list && list.Items.All(i => i is Value.Int or Value.Float):
                return new Value.List([.. list.Items.Select(i => (Value)new Value.Float(i.AsDouble()))]);
            case ArgType.Path when v is Value.Str p:
                try { return new Value.Str(baseDir is null ? p.V : System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, p.V))); }
                catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
                { diagnostics.Add(DiagnosticCatalog.BadPath(e.Span, label, ex.Message)); return null; }
        }
        var expected = spec.Type switch
        {
            ArgType.Int => "an int", ArgType.Float => "a number", ArgType.Bool => "true or false",
            ArgType.IntOrString => "an int or a string", ArgType.FloatList => "a list of numbers", _ => "a string",
        };
        diagnostics.Add(DiagnosticCatalog.TypeMismatch(e.Span, label, expected, Constants.Describe(v)));
        return null;
    }

    /// <summary><c>normal(0.001)</c>, <c>orthogonal(1.0)</c>, <c>uniform(0.1)</c>, <c>zeros</c>, <c>ones</c>, <c>default</c> → [Name kind, Float scale].</summary>
    static Value? ConvertInit(string label, Expr e, Constants constants, List<Diagnostic> diagnostics, Func<Text.SourceSpan, string, string, string, Diagnostic> outOfRange)
    {
        string? kind = null; IReadOnlyList<Argument> args = [];
        if (e is NameExpr n) kind = n.Name;
        else if (e is CallExpr { Callee: NameExpr cn } c) { kind = cn.Name; args = c.Arguments; }
        if (kind is null || !InitKinds.Contains(kind))
        {
            diagnostics.Add(DiagnosticCatalog.UnknownInit(e.Span, label, kind is null ? null : Names.Suggest(kind, InitKinds)));
            return null;
        }
        var sig = InitSignatures[kind];
        var bound = Bind(kind, sig, args, constants, diagnostics, e.Span, outOfRange: outOfRange);
        if (bound is null) return null;
        var scale = bound.Values.FirstOrDefault()?.AsDouble() ?? 0.0;
        return new Value.List([new Value.Name(kind), new Value.Float(scale)]);
    }
}
