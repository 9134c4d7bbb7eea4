using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary;

/// <summary>The algebraic properties of a function that symmetry inference reads.</summary>
[Flags]
public enum FunctionProperties
{
    None = 0,
    /// <summary>f acts on each unit separately: f(P x) = P f(x) for every permutation P.</summary>
    Elementwise = 1,
    /// <summary>f(A x) = A f(x) for every matrix A (only the identity).</summary>
    Linear = 2,
    /// <summary>f(c x) = c f(x) for c &gt; 0 (relu, leaky_relu, identity).</summary>
    PositivelyHomogeneous = 4,
    /// <summary>f(−x) = −f(x) (tanh, sin, identity).</summary>
    Odd = 8,
    /// <summary>f(x + c·1) = f(x) over the units (softmax over its last axis).</summary>
    ShiftInvariant = 16,
    /// <summary>f(P x) = P f(x) for every permutation of the units, without being elementwise (softmax).</summary>
    PermutationEquivariant = 32,
    /// <summary>f(x + c·1) = f(x) + c·1 (max_pool): a shift passes through f.</summary>
    ShiftEquivariant = 64,
    /// <summary>f acts on each channel (axis 0) separately, over its positions (the other axes): pooling. Its input's units must
    /// be on axis 0; <see cref="Elementwise"/> and the other properties then speak of the channels.</summary>
    OverPositions = 128,
    /// <summary>f draws a random mask in training (dropout): the groups it commutes with, it commutes with in distribution;
    /// in evaluation (and in <c>check --verify</c>) it is the identity.</summary>
    Stochastic = 256,
}

/// <summary>
/// One function of the language (<c>relu(h)</c>, <c>softmax(h, dim = -1)</c>): its named arguments with defaults,
/// and its properties. <see cref="Functions"/> is the one list every stage reads.
/// </summary>
public sealed record FunctionDefinition(string Name, FunctionProperties Properties, IReadOnlyList<ArgSpec> Arguments, string Meaning)
{
    public bool Has(FunctionProperties p) => (Properties & p) == p;

    /// <summary>
    /// Its C# emission: the TorchSharp expression applying it to the C# expression x, given its bound arguments (as in
    /// <see cref="Defaults"/>). Its lowering is the entry of the same name in SymDsl.Torch's FunctionRuntimes.
    /// </summary>
    public required Func<string, IReadOnlyDictionary<string, Value>, string> CSharp { get; init; }

    /// <summary>Its Python emission (<c>symc export --to pytorch</c>): the PyTorch expression applying it to the Python expression
    /// x, given its bound arguments; inside a module's forward (<c>self.training</c> is the module's mode).</summary>
    public required Func<string, IReadOnlyDictionary<string, Value>, string> Python { get; init; }

    /// <summary>
    /// The shape of its result for one example, or null after reporting (at <see cref="FunctionApplication.Span"/>) why the
    /// input does not fit; null rule: the input's shape (an elementwise function). Arguments after the input may then be
    /// given by position too: <c>max_pool(h, 2)</c>.
    /// </summary>
    public Func<FunctionApplication, IReadOnlyList<int>?>? Shape { get; init; }

    /// <summary>Its arguments with their defaults (what an RNN cell applies it with).</summary>
    public IReadOnlyDictionary<string, Value> Defaults => Arguments.Where(a => a.Default is not null).ToDictionary(a => a.Name, a => a.Default!);

    /// <summary>
    /// Whether f commutes with every element of the group <paramref name="kind"/> acting on its units — so that the
    /// group passes through f unchanged — and, when it does not, why (with whether that failure is generic).
    /// </summary>
    public (bool Passes, string? Why, bool Necessary) Commutes(SymmetryKind kind) => kind switch
    {
        SymmetryKind.Permutation => Has(FunctionProperties.Elementwise) || Has(FunctionProperties.PermutationEquivariant)
            ? (true, null, false) : (false, "mixes its units", true),
        SymmetryKind.Rescale or SymmetryKind.Scale => Has(FunctionProperties.PositivelyHomogeneous)
            ? (true, null, false) : (false, $"is not positively homogeneous ({Name}(c z) ≠ c {Name}(z))", true),
        // sigmoid(−z) = 1 − sigmoid(z): a flip is affine, and a consumer's bias may absorb it; the calculus does not prove that.
        SymmetryKind.Sign => Has(FunctionProperties.Odd)
            ? (true, null, false) : (false, $"is not odd ({Name}(−z) ≠ −{Name}(z))", Name != "sigmoid"),
        SymmetryKind.Rotation => Has(FunctionProperties.Linear)
            ? (true, null, false)
            : Has(FunctionProperties.Stochastic) ? (false, "multiplies each unit by its own random mask, which does not commute with a change of basis", true)
            : (false, "is nonlinear, so it does not commute with a change of basis", true),
        SymmetryKind.Translation => Has(FunctionProperties.Linear) || Has(FunctionProperties.ShiftEquivariant)
            ? (true, null, false) : (false, $"does not commute with a shift ({Name}(z + c) ≠ {Name}(z) + c)", true),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}

/// <summary>The functions of the language, each defined once.</summary>
public static class Functions
{
    const FunctionProperties E = FunctionProperties.Elementwise;

    public static readonly IReadOnlyList<FunctionDefinition> All =
    [
        new("relu", E | FunctionProperties.PositivelyHomogeneous, [], "max(z, 0)") { CSharp = (x, _) => $"nn.functional.relu({x})", Python = (x, _) => $"F.relu({x})" },
        new("leaky_relu", E | FunctionProperties.PositivelyHomogeneous,
            [new("negative_slope", ArgType.Float, new Value.Float(0.01))], "z for z ≥ 0, negative_slope·z otherwise")
            {
                CSharp = (x, a) => $"nn.functional.leaky_relu({x}, {Emit.CSharpEmitter.Double(a["negative_slope"].AsDouble())})",
                Python = (x, a) => $"F.leaky_relu({x}, {Emit.PythonEmitter.Double(a["negative_slope"].AsDouble())})",
            },
        new("tanh", E | FunctionProperties.Odd, [], "hyperbolic tangent") { CSharp = (x, _) => $"torch.tanh({x})", Python = (x, _) => $"torch.tanh({x})" },
        new("sigmoid", E, [], "1 / (1 + e^−z)") { CSharp = (x, _) => $"torch.sigmoid({x})", Python = (x, _) => $"torch.sigmoid({x})" },
        new("gelu", E, [], "z·Φ(z)") { CSharp = (x, _) => $"nn.functional.gelu({x})", Python = (x, _) => $"F.gelu({x})" },
        new("sin", E | FunctionProperties.Odd, [], "sine") { CSharp = (x, _) => $"torch.sin({x})", Python = (x, _) => $"torch.sin({x})" },
        new("identity", E | FunctionProperties.Linear | FunctionProperties.PositivelyHomogeneous | FunctionProperties.Odd, [], "z") { CSharp = (x, _) => x, Python = (x, _) => x },
        new("softmax", FunctionProperties.PermutationEquivariant | FunctionProperties.ShiftInvariant,
            [new("dim", ArgType.Int, new Value.Int(-1))], "e^z / Σ e^z over `dim` (default the last)")
            { CSharp = (x, a) => $"torch.softmax({x}, {BatchedDim(a["dim"].AsInt())})", Python = (x, a) => $"torch.softmax({x}, {BatchedDim(a["dim"].AsInt())})" },
        // Pooling, on [C, L] or [C, H, W] (channels first): window and stride k, floor of the size (PyTorch's default).
        new("max_pool", E | FunctionProperties.PositivelyHomogeneous | FunctionProperties.ShiftEquivariant | FunctionProperties.OverPositions,
            [ArgSpec.Req("k", ArgType.Int, Domain.Dimension)], "the maximum over each k-window (k×k on [C, H, W]) of each channel, stride k")
            { Shape = a => a.Pooled(), CSharp = (x, a) => Pool("max", x, a), Python = (x, a) => PythonPool("max", x, a) },
        new("avg_pool", E | FunctionProperties.Linear | FunctionProperties.PositivelyHomogeneous | FunctionProperties.Odd | FunctionProperties.OverPositions,
            [ArgSpec.Req("k", ArgType.Int, Domain.Dimension)], "the mean over each k-window (k×k on [C, H, W]) of each channel, stride k")
            { Shape = a => a.Pooled(), CSharp = (x, a) => Pool("avg", x, a), Python = (x, a) => PythonPool("avg", x, a) },
        new("global_avg_pool", E | FunctionProperties.Linear | FunctionProperties.PositivelyHomogeneous | FunctionProperties.Odd | FunctionProperties.OverPositions,
            [], "[C, …] → [C]: the mean of each channel over its positions")
            { Shape = a => a.Channels(), CSharp = (x, _) => $"{x}.flatten(2).mean(new long[] {{ -1 }})", Python = (x, _) => $"{x}.flatten(2).mean(-1)" },
        new("dropout", E | FunctionProperties.PositivelyHomogeneous | FunctionProperties.Odd | FunctionProperties.Stochastic,
            [ArgSpec.Req("p", ArgType.Float, Domain.UnitInterval)],
            "in training each entry is zeroed with probability p and the others scaled by 1/(1 − p), the mask drawn from the run's own generator; the identity in evaluation")
            {
                CSharp = (x, a) => $"nn.functional.dropout({x}, {Emit.CSharpEmitter.Double(a["p"].AsDouble())}, training)",
                Python = (x, a) => $"F.dropout({x}, {Emit.PythonEmitter.Double(a["p"].AsDouble())}, self.training)",
            },
    ];

    /// <summary>The C# of a pooling of the input's positions (node attribute "dims": 1 on [C, L], 2 on [C, H, W]).</summary>
    static string Pool(string op, string x, IReadOnlyDictionary<string, Value> a)
    {
        var k = a["k"].AsInt();
        return a["dims"].AsInt() == 1 ? $"nn.functional.{op}_pool1d({x}, {k})" : $"nn.functional.{op}_pool2d({x}, new long[] {{ {k}, {k} }})";
    }

    /// <summary>The Python of a pooling of the input's positions (as <see cref="Pool"/>).</summary>
    static string PythonPool(string op, string x, IReadOnlyDictionary<string, Value> a)
    {
        var k = a["k"].AsInt();
        return a["dims"].AsInt() == 1 ? $"F.{op}_pool1d({x}, {k})" : $"F.{op}_pool2d({x}, [{k}, {k}])";
    }

    /// <summary>A per-example axis as an axis of the batched tensor (the batch is implicit and leading): d ≥ 0 moves by one.</summary>
    public static long BatchedDim(long d) => d < 0 ? d : d + 1;

    static readonly Dictionary<string, FunctionDefinition> byName = All.ToDictionary(f => f.Name);

    public static FunctionDefinition? Find(string name) => byName.GetValueOrDefault(name);

    public static FunctionDefinition Get(string name)
        => byName.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"no function '{name}'");

    public static IEnumerable<string> Names => All.Select(f => f.Name);
}

/// <summary>A function applied to a value, as its shape rule sees it: the input's per-example shape, its bound arguments, and
/// checks that report a diagnostic at the call when they fail.</summary>
public sealed class FunctionApplication(string name, IReadOnlyList<int> shape, IReadOnlyDictionary<string, Value> args, SourceSpan span, List<Diagnostic> diagnostics)
{
    public IReadOnlyList<int> Shape => shape;
    public IReadOnlyDictionary<string, Value> Args => args;
    public SourceSpan Span => span;

    /// <summary>The input is [C, L] or [C, H, W] (SYM0305 otherwise).</summary>
    public bool Spatial()
    {
        if (shape.Count is 2 or 3) return true;
        diagnostics.Add(DiagnosticCatalog.RankMismatch(span, name, "[C, L] or [C, H, W] (channels first)", Names.Shape(shape)));
        return false;
    }

    /// <summary>Pooling with window and stride k over every axis after the channels: [C, ⌊L/k⌋] or [C, ⌊H/k⌋, ⌊W/k⌋]; the window
    /// must fit in the input (SYM0221).</summary>
    public IReadOnlyList<int>? Pooled()
    {
        if (!Spatial()) return null;
        var k = (int)args["k"].AsInt();
        for (int i = 1; i < shape.Count; i++)
            if (k > shape[i])
            {
                diagnostics.Add(DiagnosticCatalog.WindowTooLarge(span, name, $"its window k = {k}", $"the input's {(shape.Count == 2 ? "length" : i == 1 ? "height" : "width")} {shape[i]} (shape {Names.Shape(shape)})"));
                return null;
            }
        return [shape[0], .. shape.Skip(1).Select(d => d / k)];
    }

    /// <summary>[C, …] → [C] (SYM0305 on a rank-1 input).</summary>
    public IReadOnlyList<int>? Channels()
    {
        if (shape.Count >= 2) return [shape[0]];
        diagnostics.Add(DiagnosticCatalog.RankMismatch(span, name, "[C, …] with positions after the channels", Names.Shape(shape)));
        return null;
    }
}
