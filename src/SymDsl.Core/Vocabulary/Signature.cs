using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary;

/// <summary>
/// The arguments of one use of a vocabulary item with every default of its signature filled in (the checker fills them
/// too; an IR built by hand gets the same defaults here, from the one definition). Reading an argument the signature does
/// not have, or an optional one without a default that was left out, is a bug: it throws.
/// </summary>
public sealed class BoundArgs
{
    readonly Dictionary<string, Value> values;
    readonly string what;

    public BoundArgs(string what, IReadOnlyList<ArgSpec> signature, IReadOnlyDictionary<string, Value> given)
    {
        this.what = what;
        values = new Dictionary<string, Value>(given);
        foreach (var spec in signature)
            if (spec.Default is { } d) values.TryAdd(spec.Name, d);
    }

    public Value this[string name] => values.TryGetValue(name, out var v) ? v
        : throw new KeyNotFoundException($"{what} has no argument '{name}'");

    public Value? Optional(string name) => values.GetValueOrDefault(name);
    public long Int(string name) => this[name].AsInt();
    public double Double(string name) => this[name].AsDouble();
    public bool Bool(string name) => this[name].AsBool();
    public string Text(string name) => this[name].AsText();
}
