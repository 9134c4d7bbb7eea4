using SymDsl.IR;
using SymDsl.Torch.Measures;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>norm(S): the Frobenius norm of a scale symmetry's producer weights and its .eff_lr = lr / ‖w‖².</summary>
[MetricRuntime("norm")]
internal sealed class NormMetric(PlanScope s) : MetricRuntime(s)
{
    readonly SymmetryIR _sym = s.Sym();

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var ws = _sym.Actions.Where(a => a.Role == ActionRole.Forward).Select(a => e.Effective[a.Parameter]).ToList();
        var norm = Norm.Frobenius(ws);
        yield return (Key, norm);
        yield return (Key + ".eff_lr", norm > 0 ? e.LearningRate / (norm * norm) : double.PositiveInfinity);
    }
}
