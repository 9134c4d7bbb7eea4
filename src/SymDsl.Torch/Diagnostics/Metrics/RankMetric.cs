using System.Globalization;
using SymDsl.Diagnostics;
using SymDsl.Symmetries;
using SymDsl.Torch.Measures;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>
/// rank(T) of a parameter or of a site's representation over the probe batch (centred): the effective rank (headline),
/// .stable, .numerical (# singular values above 0.05·s₁), .sv1 … .sv8 (the mode events' source) and, for a site with
/// positions, .units (the rank over its units, the (example, position) pairs as samples).
/// </summary>
[MetricRuntime("rank")]
internal sealed class RankMetric : MetricRuntime
{
    /// <summary>How many singular values rank(…) reports (.sv1 … .sv8) and mode events consider.</summary>
    internal const int MaxModes = 8;

    readonly string? _parameter;
    readonly int? _site;
    /// <summary>The unit axis of a site with positions ([C, L], [C, H, W]); null otherwise.</summary>
    readonly int? _unitAxis;

    public RankMetric(PlanScope s) : base(s)
    {
        var model = s.Model;
        if (s.TargetKind == "parameter" || (s.TargetKind != "site" && model.Parameters.Any(p => p.Name == s.Target)))
        {
            if (!model.Parameters.Any(p => p.Name == s.Target)) throw new SymDslException($"diagnose {s.D.Key}: model {model.Name} has no parameter {s.Target}");
            _parameter = s.Target;
            return;
        }
        var node = s.SiteNode();
        _site = node;
        if (model.Node(node).Shape.Count > 1) _unitAxis = UnitAxes.Of(model)[node];
    }

    public override IEnumerable<int> Sites => _site is int n ? [n] : [];

    public override IEnumerable<string> ModeSeriesKeys =>
        Enumerable.Range(1, MaxModes).Select(k => Key + ".sv" + k.ToString(CultureInfo.InvariantCulture));

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var s = _parameter is { } name
            ? Rank.SingularValues(e.Effective[name])
            : Rank.SingularValues(ProbeEvaluation.Representation(e.Sites[_site!.Value], center: true));
        var result = new List<(string, double)> { (Key, Rank.EffectiveFromSingularValues(s)), (Key + ".stable", Rank.StableFromSingularValues(s)) };
        if (_unitAxis is int axis)
            result.Add((Key + ".units", Rank.EffectiveFromSingularValues(Rank.SingularValues(
                ProbeEvaluation.UnitRows(e.Sites[_site!.Value], axis, center: true)))));
        // Numerical rank: # singular values > 0.05 · s₁ (ModeEvents.RankThreshold; continuous companion of the mode events).
        result.Add((Key + ".numerical", ModeEvents.NumericalRank(s)));
        // Per-mode singular values (descending, at most 8): rank(y).sv1 … .svK, for stepwise learning (the mode events' source).
        for (int k = 0; k < Math.Min(MaxModes, s.Length); k++) result.Add((Key + ".sv" + (k + 1).ToString(CultureInfo.InvariantCulture), s[k]));
        return result;
    }
}
