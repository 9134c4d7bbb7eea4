using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary;

/// <summary>
/// One symmetry-breaking regularizer of <c>break METHOD(ARGS) on S</c>: its arguments with defaults and ranges, the symmetry
/// kinds it accepts (null: any), how its fixed offset θ₀ is drawn and how its decay acts (what the run-time
/// OffsetParameterization reads), and its one-line description (the symmetry report; <see cref="Does"/> is the docs row).
/// </summary>
public sealed record RegularizerDefinition(
    string Name,
    IReadOnlyList<ArgSpec> Arguments,
    IReadOnlyList<SymmetryKind>? Kinds,
    string Does,
    Func<BoundArgs, string> Describe)
{
    /// <summary>θ₀ is one random offset per unit (along the symmetry's unit axis), broadcast over the unit's entries; otherwise one per entry.</summary>
    public bool PerUnitOffset { get; init; }
    /// <summary>The decay is an explicit penalty decay·‖θ‖²_D with D a random positive diagonal drawn once; otherwise the optimizer's weight decay on θ.</summary>
    public bool DiagonalDecay { get; init; }

    public bool Accepts(SymmetryKind kind) => Kinds is null || Kinds.Contains(kind);
    public BoundArgs Bind(IReadOnlyDictionary<string, Value> args) => new(Name, Arguments, args);
    public string Description(BreakIR b) => Describe(Bind(b.Args));
}

/// <summary>The regularizers (break methods) of the language, each defined once.</summary>
public static class Regularizers
{
    static ArgSpec Sigma(double value) => new("sigma", ArgType.Float, new Value.Float(value), Range: Domain.NonNegative);
    static ArgSpec Decay() => new("decay", ArgType.Float, new Value.Float(1e-4), Range: Domain.NonNegative);

    public static readonly IReadOnlyList<RegularizerDefinition> All =
    [
        new("syre", [Sigma(0.1), Decay()], null,
            "each affected θ is used as θ + θ₀, θ₀ ~ N(0, sigma²) drawn once and never trained, plus `decay`·‖θ‖²",
            a => $"each listed parameter θ is used as θ + θ₀ with θ₀ ~ N(0, {a["sigma"]}²) drawn once and never trained, plus weight decay {a["decay"]}·‖θ‖², so the collapsed states stop being the minima of the decay term."),
        new("syre_diag", [Sigma(0.1), Decay()], [SymmetryKind.Rotation],
            "as `syre`, with decay `decay`·‖θ‖²_D, D a random positive diagonal drawn once",
            a => $"as syre (θ₀ scale {a["sigma"]}), but the decay is {a["decay"]}·‖θ‖²_D with D a random positive diagonal (drawn once), which breaks the continuous rotation symmetry.")
            { DiagonalDecay = true },
        new("perturb", [Sigma(0.01), Decay()], [SymmetryKind.Permutation],
            "fixed random per-unit offsets (scale `sigma`) plus `decay`·‖θ‖², so units are no longer interchangeable",
            a => $"each unit gets a fixed random offset (scale {a["sigma"]}) on its parameters plus weight decay {a["decay"]}, so units are no longer interchangeable.")
            { PerUnitOffset = true },
    ];

    static readonly Dictionary<string, RegularizerDefinition> byName = All.ToDictionary(r => r.Name);

    public static RegularizerDefinition? Find(string name) => byName.GetValueOrDefault(name);
    public static RegularizerDefinition Get(string name) => byName.TryGetValue(name, out var r) ? r : throw new KeyNotFoundException($"no regularizer '{name}'");
    public static IEnumerable<string> Names => All.Select(r => r.Name);
}
