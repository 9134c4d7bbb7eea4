using SymDsl.Torch.Measures;
using static TorchSharp.torch;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>cka(h): linear CKA (<see cref="Cka.Linear"/>) of the site's representation on the probe batch now against at the run's initialisation.</summary>
[MetricRuntime("cka")]
internal sealed class CkaMetric(PlanScope s) : MetricRuntime(s)
{
    readonly int _site = s.SiteNode();
    Tensor? _reference;

    public override IEnumerable<int> Sites => [_site];
    public override IEnumerable<int> InitialSites => [_site];

    public override void Start(IReadOnlyDictionary<int, Tensor> initialSites)
    {
        Release();
        var r = initialSites[_site].clone();
        r.DetachFromDisposeScope();
        _reference = r;
    }

    public override void Release()
    {
        _reference?.Dispose();
        _reference = null;
    }

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        yield return (Key, _reference is { } reference
            ? Cka.Linear(reference.reshape(reference.shape[0], -1), ProbeEvaluation.Representation(e.Sites[_site], center: false))
            : double.NaN);
    }
}
