using SymDsl.IR;
using SymDsl.Torch.Measures;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>
/// duplicates(S): units of a permutation symmetry whose concatenated (in-weights, bias, out-weights) have cosine above the
/// threshold (<see cref="Duplicates.FromSymmetry"/>): the redundant count, the number of .clusters and the .max_cos.
/// </summary>
[MetricRuntime("duplicates")]
internal sealed class DuplicatesMetric(PlanScope s) : MetricRuntime(s)
{
    readonly SymmetryIR _sym = s.Sym();

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var r = Duplicates.FromSymmetry(_sym, e.Effective, Args.Double("threshold"));
        yield return (Key, r.Redundant);
        yield return (Key + ".clusters", r.Clusters.Count);
        yield return (Key + ".max_cos", r.MaxOffDiagonalCosine);
    }
}
