using SymDsl.IR;
using SymDsl.Semantics;

namespace SymDsl.Vocabulary;

/// <summary>What a metric's target may be; <see cref="MetricTargets.Spell"/> is the word the IR and messages use.</summary>
public enum MetricTarget { Symmetry, Site, Parameter }

public static class MetricTargets
{
    public static string Spell(this MetricTarget t) => t.ToString().ToLowerInvariant();
}

/// <summary>
/// One metric of <c>diagnose M(T)</c>: its named arguments with defaults and ranges, what its target may be (and for
/// symmetries, which kinds), what the diagnostics observer needs to measure it, and its one-line description (the text the
/// symmetry report uses; <see cref="Measures"/> is the docs row). The measure itself is its run-time class in SymDsl.Torch/Diagnostics/Metrics.
/// </summary>
public sealed record MetricDefinition(
    string Name,
    IReadOnlyList<ArgSpec> Arguments,
    IReadOnlyList<MetricTarget> Targets,
    IReadOnlyList<SymmetryKind>? Kinds,
    string Measures,
    Func<string, MetricTarget, BoundArgs, string> Describe)
{
    /// <summary>The headline is an integer-valued order parameter whose level changes are reported as events.</summary>
    public bool EventSeries { get; init; }
    /// <summary>Needs the loss gradient w.r.t. the parameters.</summary>
    public bool NeedsGradients { get; init; }
    /// <summary>Needs the loss gradient w.r.t. the activations at its sites.</summary>
    public bool NeedsSiteGradients { get; init; }

    public bool Accepts(MetricTarget t) => Targets.Contains(t);
    public string TargetsSpelled => string.Join(" or ", Targets.Select(t => "a " + t.Spell()));

    /// <summary>The description of one use, for the symmetry report.</summary>
    public string Description(DiagnoseIR d) => Describe(d.Targets[0], Metrics.ParseTarget(d.TargetKinds[0]), Bind(d.Args));

    public BoundArgs Bind(IReadOnlyDictionary<string, Value> args) => new(Name, Arguments, args);
}

/// <summary>The metrics of the language, each defined once.</summary>
public static class Metrics
{
    static ArgSpec Threshold(double value, Domain range) => new("threshold", ArgType.Float, new Value.Float(value), Range: range);

    public static readonly IReadOnlyList<MetricDefinition> All =
    [
        new("collapse", [Threshold(1e-3, Domain.NonNegative)], [MetricTarget.Symmetry], [SymmetryKind.Rescale, SymmetryKind.Sign],
            "units with ‖w_in,i‖·‖w_out,i‖ below the threshold",
            (t, _, a) => $"counts the units of `{t}` whose ‖w_in,i‖·‖w_out,i‖ is below {a.Double("threshold")} (dead or collapsed units).")
            { EventSeries = true },
        new("balance", [], [MetricTarget.Symmetry], [SymmetryKind.Rescale, SymmetryKind.Rotation],
            "the conserved quantity and the gradient-norm ratio per unit",
            (t, _, _) => $"reports the conserved quantity of `{t}` and the ratio ‖∇w_in‖² / ‖∇w_out‖² per unit (approaches 1 under SGD).")
            { NeedsGradients = true },
        new("duplicates", [Threshold(0.99, Domain.Probability)], [MetricTarget.Symmetry], [SymmetryKind.Permutation],
            "clusters of units whose (in-weights, bias, out-weights) have cosine above the threshold",
            (t, _, a) => $"clusters units of `{t}` whose concatenated (in-weights, bias, out-weights) have cosine similarity above {a.Double("threshold")}.")
            { EventSeries = true },
        new("rank", [], [MetricTarget.Site, MetricTarget.Parameter], null,
            "effective rank of a site's representation over a probe batch, or of the parameter",
            (t, k, _) => k == MetricTarget.Parameter
                ? $"effective rank (exp of the entropy of the normalised singular values) and stable rank of `{t}`."
                : $"effective rank of the representation at site `{t}` over a fixed probe batch.")
            { EventSeries = true },
        new("alignment", [], [MetricTarget.Site], null,
            "canonical-representation alignment at the site",
            (t, _, _) => $"the canonical-representation alignment at `{t}`: Pearson correlations between the representation covariance, the gradient covariance and the weight Gram matrix.")
            { NeedsGradients = true, NeedsSiteGradients = true },
        new("cka", [], [MetricTarget.Site], null,
            "linear CKA of the site's representation now against at initialisation",
            (t, _, _) => $"linear CKA of the representation at `{t}` across runs (seeds)."),
        new("drift", [], [MetricTarget.Symmetry], [SymmetryKind.Translation],
            "the mean of the logit bias",
            (t, _, _) => $"the mean of the logit bias of `{t}` (the translation orbit coordinate)."),
        new("norm", [], [MetricTarget.Symmetry], [SymmetryKind.Scale],
            "the producer's weight norm and effective learning rate",
            (t, _, _) => $"the weight norm of the producer of `{t}` and its effective learning rate."),
    ];

    static readonly Dictionary<string, MetricDefinition> byName = All.ToDictionary(m => m.Name);

    public static MetricDefinition? Find(string name) => byName.GetValueOrDefault(name);
    public static MetricDefinition Get(string name) => byName.TryGetValue(name, out var m) ? m : throw new KeyNotFoundException($"no metric '{name}'");
    public static IEnumerable<string> Names => All.Select(m => m.Name);

    /// <summary>"symmetry", "site" or "parameter" (as <see cref="DiagnoseIR.TargetKinds"/> spells them) as a <see cref="MetricTarget"/>.</summary>
    public static MetricTarget ParseTarget(string spelled) =>
        Enum.GetValues<MetricTarget>().FirstOrDefault(t => t.Spell() == spelled, (MetricTarget)(-1)) is var t && Enum.IsDefined(t)
            ? t : throw new ArgumentOutOfRangeException(nameof(spelled), spelled, "not a metric target kind");
}
