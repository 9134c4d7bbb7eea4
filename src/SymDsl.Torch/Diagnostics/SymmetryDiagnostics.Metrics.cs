using System.Globalization;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Measures;
using SymDsl.Symmetries;
using SymDsl.Torch.Training;
using static TorchSharp.torch;

namespace SymDsl.Torch.Diagnostics;

/// <summary>
/// The run-time side of each metric of <see cref="Vocabulary.Metrics"/>: how a <c>diagnose</c> clause is resolved against
/// the model (its plan) and how it is measured. One entry per metric, found by name; a test checks that every metric of the
/// language has one.
/// </summary>
public sealed partial class SymmetryDiagnostics
{
    /// <summary>What a metric's plan may read: the model, the clause, its target and how it resolved, and two resolvers.</summary>
    sealed record PlanScope(ModelIR Model, DiagnoseIR D, string Target, string TargetKind, Func<SymmetryIR> Sym, Func<int> SiteNode);

    /// <summary>What a measurement may read: parameters (float64), captured sites and gradients, shared unit norms.</summary>
    sealed record Measurement(TrainingContext Context, IReadOnlyDictionary<string, Tensor> Effective, Dictionary<int, Tensor> Sites,
        Dictionary<int, Tensor> SiteGrads, Dictionary<string, Tensor> ParamGrads, Func<SymmetryIR, (double[] InSquared, double[] OutSquared)> Norms);

    /// <summary>
    /// One metric at run time. <see cref="StepGradients"/>: the gradients of the symmetry's parameters may come from the
    /// optimizer step (<see cref="GradientSource.Step"/>); <see cref="InitialReference"/>: the site at initialisation is captured.
    /// </summary>
    sealed record MetricRuntime(Func<PlanScope, Plan> Plan, Func<SymmetryDiagnostics, Plan, Measurement, IEnumerable<(string, double)>> Measure)
    {
        public bool StepGradients { get; init; }
        public bool InitialReference { get; init; }
        /// <summary>
        /// Events come from the per-mode series Key.sv1 … Key.sv<see cref="MaxModes"/> (<see cref="ModeEvents"/>: each mode's rise to
        /// half its final value) instead of the headline's level changes.
        /// </summary>
        public bool ModeEvents { get; init; }
    }

    /// <summary>How many singular values rank(…) reports (.sv1 … .sv8) and mode events consider.</summary>
    internal const int MaxModes = 8;

    /// <summary>Plans of metrics that measure one symmetry.</summary>
    static Plan OfSymmetry(PlanScope s) => new(s.D, s.Sym(), null, null, null, null, null);

    static readonly IReadOnlyDictionary<string, MetricRuntime> Runtimes = new Dictionary<string, MetricRuntime>
    {
        ["collapse"] = new(s =>
        {
            var sym = s.Sym();
            var site = s.Model.Site(sym.Target);
            // The site's units lie along its unit axis (the channels of a conv site [C, L] / [C, H, W], the last axis of a Linear's).
            int? node = site is not null && site.Op != OpKind.Input && site.Shape.Count > 0
                && site.Shape[UnitAxes.Of(s.Model)[site.Id]] == sym.Dim * Math.Max(1, sym.Blocks) ? site.Id : null;
            return new Plan(s.D, sym, null, node, null, null, null);
        }, (self, p, m) => CollapseOf(p, m, self._model)),
        ["duplicates"] = new(OfSymmetry, (_, p, m) => DuplicatesOf(p, m)),
        ["balance"] = new(OfSymmetry, (_, p, m) => BalanceMetrics(p, m.Effective, m.ParamGrads, m.Norms)) { StepGradients = true },
        ["drift"] = new(OfSymmetry, (_, p, m) => DriftOf(p, m)),
        ["norm"] = new(OfSymmetry, (_, p, m) => NormOf(p, m)),
        ["rank"] = new(s =>
        {
            var model = s.Model;
            if (s.TargetKind == "parameter" || (s.TargetKind != "site" && model.Parameters.Any(p => p.Name == s.Target)))
            {
                if (!model.Parameters.Any(p => p.Name == s.Target)) throw new SymDslException($"diagnose {s.D.Key}: model {model.Name} has no parameter {s.Target}");
                return new Plan(s.D, null, s.Target, null, null, null, null);
            }
            return new Plan(s.D, null, null, s.SiteNode(), null, null, null);
        }, (self, p, m) => RankOf(p, m, self._model)) { ModeEvents = true },
        ["cka"] = new(s => new Plan(s.D, null, null, s.SiteNode(), null, null, null), (self, p, m) => self.CkaOf(p, m)) { InitialReference = true },
        ["alignment"] = new(s =>
        {
            var h = s.SiteNode();
            var (a, b, w, conv) = AlignmentLayer(s.Model, h) ?? throw new SymDslException(
                $"diagnose {s.D.Key}: alignment needs a Linear or Conv layer that consumes site {s.Target} (directly, after a BatchNorm, or a Linear after global_avg_pool) or produces it directly; there is none");
            return new Plan(s.D, null, null, h, a, b, w) { Conv = conv };
        }, (_, p, m) => AlignmentOf(p, m)),
    };

    /// <summary>The metrics with a run-time implementation (a test compares them with the language's).</summary>
    public static IEnumerable<string> Implemented => Runtimes.Keys;

    static IEnumerable<(string, double)> CollapseOf(Plan p, Measurement m, ModelIR model)
    {
        var (inSq, outSq) = m.Norms(p.Sym!); // Collapse.FromSymmetry, sharing the unit norms with balance
        var c = Collapse.FromSquaredNorms(inSq, outSq, p.Args.Double("threshold"));
        yield return (p.Key, c.Count);
        yield return (p.Key + ".fraction", c.Fraction);
        if (p.SiteNode is int n && m.Sites.TryGetValue(n, out var acts))
            yield return (p.Key + ".dead", Collapse.DeadUnits(acts, unitAxis: UnitAxes.Of(model)[n]).Length);
    }

    static IEnumerable<(string, double)> DuplicatesOf(Plan p, Measurement m)
    {
        var r = Duplicates.FromSymmetry(p.Sym!, m.Effective, p.Args.Double("threshold"));
        yield return (p.Key, r.Redundant);
        yield return (p.Key + ".clusters", r.Clusters.Count);
        yield return (p.Key + ".max_cos", r.MaxOffDiagonalCosine);
    }

    static IEnumerable<(string, double)> RankOf(Plan p, Measurement m, ModelIR model)
    {
        var s = p.Parameter is { } name
            ? Rank.SingularValues(m.Effective[name])
            : Rank.SingularValues(Representation(m.Sites[p.SiteNode!.Value], center: true));
        var result = new List<(string, double)> { (p.Key, Rank.EffectiveFromSingularValues(s)), (p.Key + ".stable", Rank.StableFromSingularValues(s)) };
        // A site with positions ([C, L], [C, H, W]): also the rank over its units alone, the (example, position) pairs as samples.
        if (p.SiteNode is int node && model.Node(node).Shape.Count > 1)
            result.Add((p.Key + ".units", Rank.EffectiveFromSingularValues(Rank.SingularValues(
                UnitRows(m.Sites[node], UnitAxes.Of(model)[node], center: true)))));
        // Numerical rank: # singular values > 0.05 · s₁ (ModeEvents.RankThreshold; continuous companion of the mode events).
        result.Add((p.Key + ".numerical", ModeEvents.NumericalRank(s)));
        // Per-mode singular values (descending, at most 8): rank(y).sv1 … .svK, for stepwise learning (the mode events' source).
        for (int k = 0; k < Math.Min(MaxModes, s.Length); k++) result.Add((p.Key + ".sv" + (k + 1).ToString(CultureInfo.InvariantCulture), s[k]));
        return result;
    }

    static IEnumerable<(string, double)> DriftOf(Plan p, Measurement m)
    {
        var biases = p.Sym!.Actions.Where(a => a.Role is ActionRole.Shift or ActionRole.Forward).Select(a => m.Effective[a.Parameter]).ToList();
        yield return (p.Key, biases.Count == 1 ? Drift.MeanBias(biases[0]) : Drift.MeanBias(cat(biases.Select(b => b.flatten()).ToList())));
    }

    static IEnumerable<(string, double)> NormOf(Plan p, Measurement m)
    {
        var ws = p.Sym!.Actions.Where(a => a.Role == ActionRole.Forward).Select(a => m.Effective[a.Parameter]).ToList();
        var norm = Norm.Frobenius(ws);
        yield return (p.Key, norm);
        yield return (p.Key + ".eff_lr", norm > 0 ? m.Context.LearningRate / (norm * norm) : double.PositiveInfinity);
    }

    static IEnumerable<(string, double)> AlignmentOf(Plan p, Measurement m)
    {
        var w = m.Effective[p.AlignWeight!];
        CrhAlignment c;
        long rows, a, b;
        if (p.Conv is { } conv)
        {
            // im2col: the convolution is the linear map W = weight.reshape(out, in·kᵈ) on the patches (Alignment.CrhConv).
            var (patches, hb, gb, W) = Alignment.ConvRows(m.Sites[p.ANode!.Value], m.Sites[p.BNode!.Value], m.SiteGrads[p.BNode.Value], w, conv.Stride, conv.Padding);
            c = Alignment.Crh(patches, hb, gb.matmul(W), gb, W);
            (rows, a, b) = (patches.shape[0], W.shape[1], W.shape[0]);
        }
        else
        {
            var ha = Representation(m.Sites[p.ANode!.Value], center: false, lastAxis: w.shape[1]);
            var hb = Representation(m.Sites[p.BNode!.Value], center: false, lastAxis: w.shape[0]);
            var ga = Representation(m.SiteGrads[p.ANode.Value], center: false, lastAxis: w.shape[1]);
            var gb = Representation(m.SiteGrads[p.BNode.Value], center: false, lastAxis: w.shape[0]);
            c = Alignment.Crh(ha, hb, ga, gb, w);
            (rows, a, b) = (ha.shape[0], w.shape[1], w.shape[0]);
        }
        var key = p.Key;
        // The random baseline (Alignment.RandomBaseline) depends on the sizes only: computed once per plan, then reported each time.
        p.Baseline ??= Alignment.RandomBaseline(rows, a, b, draws: 2, seed: 17);
        return
        [
            (key, MeanOfSix(c)),
            (key + ".rga_a", c.RgaA), (key + ".gwa_a", c.GwaA), (key + ".rwa_a", c.RwaA),
            (key + ".rga_b", c.RgaB), (key + ".gwa_b", c.GwaB), (key + ".rwa_b", c.RwaB),
            (key + ".baseline", MeanOfSix(p.Baseline)),
            (key + ".baseline_rga_a", p.Baseline.RgaA), (key + ".baseline_gwa_a", p.Baseline.GwaA), (key + ".baseline_rwa_a", p.Baseline.RwaA),
            (key + ".baseline_rga_b", p.Baseline.RgaB), (key + ".baseline_gwa_b", p.Baseline.GwaB), (key + ".baseline_rwa_b", p.Baseline.RwaB),
        ];
    }

    /// <summary>The headline of an alignment: the mean of its finite relations (NaN when none is).</summary>
    static double MeanOfSix(CrhAlignment c)
    {
        double[] six = [c.RgaA, c.GwaA, c.RwaA, c.RgaB, c.GwaB, c.RwaB];
        var finite = six.Where(double.IsFinite).ToArray();
        return finite.Length > 0 ? finite.Average() : double.NaN;
    }

    IEnumerable<(string, double)> CkaOf(Plan p, Measurement m)
    {
        var node = p.SiteNode!.Value;
        yield return (p.Key, _ckaReference.TryGetValue(node, out var reference)
            ? Cka.Linear(reference.reshape(reference.shape[0], -1), Representation(m.Sites[node], center: false))
            : double.NaN);
    }
}
