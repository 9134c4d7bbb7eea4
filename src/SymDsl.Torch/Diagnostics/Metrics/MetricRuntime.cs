using System.Reflection;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Vocabulary;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>
/// Marks the run-time class of the metric of <see cref="Vocabulary.Metrics"/> named <see cref="Name"/>. The class derives
/// from <see cref="MetricRuntime"/> and has a constructor taking a <see cref="PlanScope"/>; it is found by reflection
/// (<see cref="MetricRuntimes"/>), so adding a metric touches its vocabulary definition and its runtime class only.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
internal sealed class MetricRuntimeAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>What a metric's plan may read: the model, the clause, its target and how it resolved, and two resolvers.</summary>
internal sealed record PlanScope(ModelIR Model, DiagnoseIR D, string Target, string TargetKind, Func<SymmetryIR> Sym, Func<int> SiteNode);

/// <summary>
/// One <c>diagnose</c> clause at run time: its constructor resolves the clause against the model (its plan; it throws
/// <see cref="SymDslException"/> for a target it cannot measure) and <see cref="Measure"/> measures it on a
/// <see cref="ProbeEvaluation"/>, which the <see cref="ProbeEvaluator"/> builds once per evaluation for all due metrics.
/// A metric declares what it reads (<see cref="Sites"/>, <see cref="StepGradientParameters"/>) so that the shared pass
/// computes exactly that. Instances hold per-clause state (cka's reference, alignment's baseline); one evaluation runs at
/// a time.
/// </summary>
internal abstract class MetricRuntime
{
    protected MetricRuntime(PlanScope scope)
    {
        D = scope.D;
        Model = scope.Model;
        Definition = Vocabulary.Metrics.Get(D.Metric);
        Args = Definition.Bind(D.Args);
    }

    public DiagnoseIR D { get; }
    public ModelIR Model { get; }
    public MetricDefinition Definition { get; }
    public BoundArgs Args { get; }
    public string Key => D.Key;

    /// <summary>Nodes whose values on the probe batch the metric reads (with <see cref="MetricDefinition.NeedsSiteGradients"/>, and their loss gradients).</summary>
    public virtual IEnumerable<int> Sites => [];

    /// <summary>
    /// Parameters whose loss gradient the metric reads when it may take them from the optimizer step just taken
    /// (<see cref="GradientSource.Step"/>); null when its gradients (if any) come from the probe batch.
    /// </summary>
    public virtual IReadOnlyList<string>? StepGradientParameters => null;

    /// <summary>
    /// Events come from the per-mode series Key.sv1 … Key.sv<see cref="RankMetric.MaxModes"/> (mode events: each mode's rise to
    /// half its final value) instead of the headline's level changes.
    /// </summary>
    public virtual IEnumerable<string> ModeSeriesKeys => [];

    /// <summary>Sites whose values at the run's initialisation the metric needs (<see cref="Start"/> receives them).</summary>
    public virtual IEnumerable<int> InitialSites => [];

    /// <summary>At the start of a run: the values of <see cref="InitialSites"/> at initialisation (float64, owned by the caller's scope).</summary>
    public virtual void Start(IReadOnlyDictionary<int, TorchSharp.torch.Tensor> initialSites) { }

    /// <summary>Frees what <see cref="Start"/> kept.</summary>
    public virtual void Release() { }

    /// <summary>The metric's (key, value) pairs: the headline <see cref="Key"/> first, then Key.sub values.</summary>
    public abstract IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e);
}

/// <summary>The run-time classes of the metrics, found by <see cref="MetricRuntimeAttribute"/>.</summary>
internal static class MetricRuntimes
{
    static readonly IReadOnlyDictionary<string, ConstructorInfo> byName = Discover();

    static Dictionary<string, ConstructorInfo> Discover()
    {
        var result = new Dictionary<string, ConstructorInfo>();
        foreach (var type in typeof(MetricRuntime).Assembly.GetTypes())
        {
            if (type.GetCustomAttribute<MetricRuntimeAttribute>() is not { } attribute) continue;
            if (type.IsAbstract || !typeof(MetricRuntime).IsAssignableFrom(type))
                throw new InvalidOperationException($"{type.Name}: a metric runtime must be a concrete MetricRuntime");
            var ctor = type.GetConstructor(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, [typeof(PlanScope)])
                ?? throw new InvalidOperationException($"{type.Name}: a metric runtime needs a constructor taking a PlanScope");
            if (!result.TryAdd(attribute.Name, ctor))
                throw new InvalidOperationException($"metric {attribute.Name} has two runtimes: {result[attribute.Name].DeclaringType!.Name} and {type.Name}");
        }
        return result;
    }

    /// <summary>The metrics with a run-time class.</summary>
    public static IEnumerable<string> Names => byName.Keys;

    public static bool Has(string metric) => byName.ContainsKey(metric);

    /// <summary>The runtime of <paramref name="scope"/>'s clause, its plan resolved (exceptions of the plan propagate unwrapped).</summary>
    public static MetricRuntime Create(PlanScope scope) =>
        (MetricRuntime)byName[scope.D.Metric].Invoke(BindingFlags.DoNotWrapExceptions, binder: null, [scope], culture: null);
}
