using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary;

/// <summary>
/// One data source of <c>data NAME(ARGS)</c>: its arguments with defaults and ranges, the fields it yields (shapes may
/// depend on the arguments), the relations between arguments that a single range cannot say, and its docs row
/// (<see cref="Yields"/>, <see cref="Meaning"/>). The loader itself is in SymDsl.Torch's data-source registry (a test checks
/// that every source has one).
/// </summary>
public sealed record DataSourceDefinition(
    string Name,
    IReadOnlyList<ArgSpec> Arguments,
    Func<BoundArgs, IReadOnlyList<DataField>> Fields,
    string Yields,
    string Meaning)
{
    /// <summary>The relations between arguments: null when they hold, else the message (after "NAME: ").</summary>
    public Func<BoundArgs, string?> Relations { get; init; } = _ => null;

    public BoundArgs Bind(IReadOnlyDictionary<string, Value> args) => new(Name, Arguments, args);
}

/// <summary>The data sources of the language, each defined once.</summary>
public static class DataSourceDefinitions
{
    static Value F(double v) => new Value.Float(v);
    static Value I(long v) => new Value.Int(v);
    static Value S(string v) => new Value.Str(v);

    /// <summary>The share of examples held out: [0, 1), so that something is left to train on.</summary>
    static ArgSpec TestFraction(double value) => new("test_fraction", ArgType.Float, F(value), Range: Domain.UnitInterval);
    static ArgSpec Count(string name, long value) => new(name, ArgType.Int, I(value), Range: Domain.Count);
    static ArgSpec Noise() => new("noise", ArgType.Float, F(0.0), Range: Domain.NonNegative);

    static DataField Features(int? width) => new("x", width is { } w ? [w] : null, ElementType.Float32, null);
    static DataField Label(int? classes) => new("label", [], ElementType.Int64, classes);
    static DataField Target(int width) => new("target", [width], ElementType.Float32, null, IsTarget: true);

    /// <summary>The byte vocabulary of <c>text</c>: every byte value is a token.</summary>
    public const int ByteVocabulary = 256;

    public static readonly IReadOnlyList<DataSourceDefinition> All =
    [
        new("digits", [TestFraction(0.2)], _ => [Features(64), Label(10)],
            "`x: [64]` float, `label` (10 classes)", "the 8x8 digits set shipped with the project"),
        new("csv", [ArgSpec.Req("path", ArgType.Path), new("label", ArgType.IntOrString, S("label"), Range: Domain.Index), TestFraction(0.2), new("standardize", ArgType.Bool, new Value.Bool(false))],
            _ => [Features(null), Label(null)],
            "`x` (the other columns; width known at run time), `label` (classes known at run time)", "a CSV file with a header row"),
        new("idx", [ArgSpec.Req("images", ArgType.Path), ArgSpec.Req("labels", ArgType.Path), new("test_images", ArgType.Path), new("test_labels", ArgType.Path), TestFraction(0.2)],
            _ => [Features(784), Label(10)],
            "`x: [784]`, `label` (10 classes)", "MNIST-format IDX files"),
        new("fashion_mnist", [new("dir", ArgType.Path, S("data/fashion_mnist")), TestFraction(0.0)],
            _ => [Features(784), Label(10)],
            "`x: [784]`, `label` (10 classes)", "Fashion-MNIST's four IDX files"),
        new("teacher", [Count("d_in", 16), Count("d_out", 1), Count("hidden", 32), Count("samples", 1024), Noise(), TestFraction(0.2)],
            a => [Features((int)a.Int("d_in")), Target((int)a.Int("d_out"))],
            "`x: [d_in]`, `target: [d_out]`", "a fixed random ReLU teacher network"),
        new("lowrank_regression", [ArgSpec.Req("d", ArgType.Int, Domain.Count), ArgSpec.Req("rank", ArgType.Int, Domain.Count), ArgSpec.Req("samples", ArgType.Int, Domain.Count),
            new("top", ArgType.Float, F(1.0), Range: Domain.Positive), new("ratio", ArgType.Float, F(0.5), Range: Domain.Ratio),
            new("spectrum", ArgType.FloatList, Range: Domain.Positive), Noise(), TestFraction(0.2)],
            a => [Features((int)a.Int("d")), Target((int)a.Int("d"))],
            "`x: [d]`, `target: [d]`", "a linear map of the given rank")
        { Relations = a => a.Int("rank") > a.Int("d") ? "'rank' must not exceed 'd'" : LowRankSpectrum.Problem(a) },
        new("text", [ArgSpec.Req("path", ArgType.Path), Count("context", 64), new("stride", ArgType.Int, Range: Domain.Count), TestFraction(0.1)],
            a => [new DataField("tokens", [(int)a.Int("context")], ElementType.Int64, null) { TokenIds = true },
                  new DataField("next", [(int)a.Int("context")], ElementType.Int64, ByteVocabulary)],
            "`tokens: int [context]`, `next: int [context]` (256 classes; `next` is `tokens` shifted by one byte)",
            "a byte-level text corpus: the file's first 1 − test_fraction of bytes give the training windows (every `stride` bytes, default `context`), the rest the test windows (every `context` bytes); no window crosses the split")
        { Relations = a => a.Optional("stride") is { } s && s.AsInt() > a.Int("context") ? "'stride' must not exceed 'context' (bytes would be skipped)" : null },
    ];

    static readonly Dictionary<string, DataSourceDefinition> byName = All.ToDictionary(d => d.Name);

    public static DataSourceDefinition? Find(string name) => byName.GetValueOrDefault(name);
    public static DataSourceDefinition Get(string name) => byName.TryGetValue(name, out var d) ? d : throw new KeyNotFoundException($"no data source '{name}'");
    public static IEnumerable<string> Names => All.Select(d => d.Name);
}

/// <summary>
/// The singular values of <c>lowrank_regression</c>'s map A, defined once (the checker's relation and the loader read it):
/// <c>spectrum = [s₁, …, s_rank]</c> when given (one positive value per rank, in any order; the data's singular values are
/// these), else sᵢ = top·ratio^i for i &lt; rank. <c>spectrum</c> excludes <c>top</c> and <c>ratio</c> only in meaning: when it
/// is given they are not read.
/// </summary>
public static class LowRankSpectrum
{
    /// <summary>Null when the arguments define a spectrum, else why not (after "lowrank_regression: ").</summary>
    public static string? Problem(BoundArgs a) =>
        a.Optional("spectrum") is Value.List list && list.Items.Count != a.Int("rank")
            ? $"'spectrum' has {list.Items.Count} value{(list.Items.Count == 1 ? "" : "s")} but 'rank' is {a.Int("rank")} (one singular value per rank)"
            : null;

    /// <summary>The rank singular values (arguments already checked: ranges by the binder, <see cref="Problem"/> by the checker).</summary>
    public static double[] Values(BoundArgs a)
    {
        var rank = (int)a.Int("rank");
        if (a.Optional("spectrum") is Value.List list)
        {
            if (Problem(a) is { } why) throw new Diagnostics.SymDslException($"lowrank_regression: {why}");
            return [.. list.Items.Select(v => v.AsDouble())];
        }
        var (top, ratio) = (a.Double("top"), a.Double("ratio"));
        return [.. Enumerable.Range(0, rank).Select(i => top * Math.Pow(ratio, i))];
    }
}
