using SymDsl.IR;
using SymDsl.Torch.Measures;
using static TorchSharp.torch;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>drift(S): the mean of the bias a translation symmetry shifts (<see cref="Drift.MeanBias"/>), its orbit coordinate.</summary>
[MetricRuntime("drift")]
internal sealed class DriftMetric(PlanScope s) : MetricRuntime(s)
{
    readonly SymmetryIR _sym = s.Sym();

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var biases = _sym.Actions.Where(a => a.Role is ActionRole.Shift or ActionRole.Forward).Select(a => e.Effective[a.Parameter]).ToList();
        yield return (Key, biases.Count == 1 ? Drift.MeanBias(biases[0]) : Drift.MeanBias(cat(biases.Select(b => b.flatten()).ToList())));
    }
}
