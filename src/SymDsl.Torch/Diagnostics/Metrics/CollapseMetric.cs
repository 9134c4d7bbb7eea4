using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Torch.Measures;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>
/// collapse(S): the number (and .fraction) of units of a rescale or sign symmetry whose ‖w_in,i‖·‖w_out,i‖ is below the
/// threshold (<see cref="Collapse.FromSquaredNorms"/> on the evaluation's shared unit norms), and .dead, the units that are
/// zero on the whole probe batch when the symmetry's site carries its units.
/// </summary>
[MetricRuntime("collapse")]
internal sealed class CollapseMetric : MetricRuntime
{
    readonly SymmetryIR _sym;
    readonly int? _site;
    readonly int _unitAxis;

    public CollapseMetric(PlanScope s) : base(s)
    {
        _sym = s.Sym();
        var site = s.Model.Site(_sym.Target);
        // The site's units lie along its unit axis (the channels of a conv site [C, L] / [C, H, W], the last axis of a Linear's).
        if (site is not null && site.Op != OpKind.Input && site.Shape.Count > 0)
        {
            var axis = UnitAxes.Of(s.Model)[site.Id];
            if (site.Shape[axis] == _sym.Dim * Math.Max(1, _sym.Blocks)) (_site, _unitAxis) = (site.Id, axis);
        }
    }

    public override IEnumerable<int> Sites => _site is int n ? [n] : [];

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var (inSq, outSq) = e.Norms(_sym); // Collapse.FromSymmetry, sharing the unit norms with balance
        var c = Collapse.FromSquaredNorms(inSq, outSq, Args.Double("threshold"));
        yield return (Key, c.Count);
        yield return (Key + ".fraction", c.Fraction);
        if (_site is int n && e.Sites.TryGetValue(n, out var acts))
            yield return (Key + ".dead", Collapse.DeadUnits(acts, unitAxis: _unitAxis).Length);
    }
}
