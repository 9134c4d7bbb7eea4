using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary;

/// <summary>
/// A layer applied to a value, as a definition's shape rule sees it: the layer, the input's per-example shape and element
/// type, and checks that report a diagnostic at the application when they fail.
/// </summary>
public sealed class LayerApplication(LayerIR layer, IReadOnlyList<int> shape, ElementType type, SourceSpan span, List<Diagnostic> diagnostics)
{
    public LayerIR Layer => layer;
    /// <summary>The input's shape for one example.</summary>
    public IReadOnlyList<int> Shape => shape;
    public ElementType Type => type;
    /// <summary>An int argument of the layer.</summary>
    public int Int(string key) => (int)layer.Args[key].AsInt();
    string Label => $"{layer.Kind} '{layer.Name}'";

    /// <summary>The input holds floats (SYM0306 otherwise).</summary>
    public bool NeedFloat()
    {
        if (type == ElementType.Float32) return true;
        diagnostics.Add(DiagnosticCatalog.ElementTypeMismatch(span, Label, "float", "int"));
        return false;
    }

    /// <summary>The input holds ints (SYM0306 otherwise, saying <paramref name="expected"/>).</summary>
    public bool NeedInt(string expected)
    {
        if (type == ElementType.Int64) return true;
        diagnostics.Add(DiagnosticCatalog.ElementTypeMismatch(span, Label, expected, "float"));
        return false;
    }

    /// <summary>The input's last dimension equals the int argument <paramref name="argName"/> (SYM0301 otherwise).</summary>
    public bool Last(string argName)
    {
        var expected = Int(argName);
        if (shape[^1] == expected) return true;
        diagnostics.Add(DiagnosticCatalog.LayerShapeMismatch(span, Label, $"last dimension {expected} ({argName})", Names.Shape(shape)));
        return false;
    }

    /// <summary>The input's first dimension (its channels) equals the int argument <paramref name="argName"/> (SYM0301 otherwise).</summary>
    public bool First(string argName)
    {
        var expected = Int(argName);
        if (shape[0] == expected) return true;
        diagnostics.Add(DiagnosticCatalog.LayerShapeMismatch(span, Label, $"first dimension {expected} ({argName}: its channels)", Names.Shape(shape)));
        return false;
    }

    /// <summary>A window of <paramref name="window"/> fits in <paramref name="size"/> entries (SYM0221 otherwise, saying
    /// <paramref name="what"/> is larger than <paramref name="input"/>).</summary>
    public bool Fits(long window, long size, string what, string input)
    {
        if (window <= size) return true;
        diagnostics.Add(DiagnosticCatalog.WindowTooLarge(span, Label, what, input));
        return false;
    }

    /// <summary>The input has <paramref name="rank"/> dimensions (SYM0305 otherwise, saying <paramref name="expected"/>).</summary>
    public bool Rank(int rank, string expected)
    {
        if (shape.Count == rank) return true;
        diagnostics.Add(DiagnosticCatalog.RankMismatch(span, Label, expected, Names.Shape(shape)));
        return false;
    }
}

/// <summary>The parameters of one layer as its definition lists them: "{layer}.{local}", shape, initialisation.</summary>
public sealed class ParameterList(string layer, IReadOnlyDictionary<string, Value> args, InitSpec init, InitSpec biasInit)
{
    readonly List<ParameterIR> items = [];
    public IReadOnlyList<ParameterIR> Items => items;
    public IReadOnlyDictionary<string, Value> Args => args;
    public int Int(string key) => (int)args[key].AsInt();
    public bool Bool(string key) => args[key].AsBool();

    /// <summary>A weight: initialised by the layer's <c>init</c>.</summary>
    public void Weight(string local, params int[] shape) => items.Add(new ParameterIR($"{layer}.{local}", shape, init));
    /// <summary>A bias: initialised by the layer's <c>bias_init</c>.</summary>
    public void Bias(string local, int n) => items.Add(new ParameterIR($"{layer}.{local}", [n], biasInit));
    /// <summary>A parameter with its own initialisation (a LayerNorm's gain: always the default).</summary>
    public void Add(string local, InitSpec initSpec, params int[] shape) => items.Add(new ParameterIR($"{layer}.{local}", shape, initSpec));
}
