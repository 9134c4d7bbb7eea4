using System.Globalization;

namespace SymDsl.IR;

/// <summary>A constant value in the IR: hyper-parameters, layer and data-source arguments.</summary>
public abstract record Value
{
    public sealed record Int(long V) : Value { public override string ToString() => V.ToString(CultureInfo.InvariantCulture); }
    public sealed record Float(double V) : Value { public override string ToString() => V.ToString("R", CultureInfo.InvariantCulture); }
    public sealed record Bool(bool V) : Value { public override string ToString() => V ? "true" : "false"; }
    public sealed record Str(string V) : Value { public override string ToString() => $"\"{V}\""; }
    /// <summary>A bare name used as a value: <c>activation = tanh</c>, <c>integrator = rk4</c>.</summary>
    public sealed record Name(string V) : Value { public override string ToString() => V; }
    public sealed record List(IReadOnlyList<Value> Items) : Value { public override string ToString() => "[" + string.Join(", ", Items) + "]"; }

    public long AsInt() => this is Int i ? i.V : throw new InvalidOperationException($"{this} is not an int");
    public double AsDouble() => this switch { Int i => i.V, Float f => f.V, _ => throw new InvalidOperationException($"{this} is not a number") };
    public bool AsBool() => this is Bool b ? b.V : throw new InvalidOperationException($"{this} is not a bool");
    public string AsText() => this switch { Str s => s.V, Name n => n.V, _ => ToString() };
}

public static class ValueArgs
{
    public static long Int(this IReadOnlyDictionary<string, Value> args, string key, long fallback) => args.TryGetValue(key, out var v) ? v.AsInt() : fallback;
    public static double Double(this IReadOnlyDictionary<string, Value> args, string key, double fallback) => args.TryGetValue(key, out var v) ? v.AsDouble() : fallback;
    public static bool Bool(this IReadOnlyDictionary<string, Value> args, string key, bool fallback) => args.TryGetValue(key, out var v) ? v.AsBool() : fallback;
    public static string Text(this IReadOnlyDictionary<string, Value> args, string key, string fallback) => args.TryGetValue(key, out var v) ? v.AsText() : fallback;
}
