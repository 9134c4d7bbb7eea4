using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Measures;
using SymDsl.Vocabulary;

namespace SymDsl.Torch.Diagnostics.Metrics;

/// <summary>
/// alignment(h): the canonical-representation alignment (<see cref="Alignment.Crh"/>) of the layer h_b = W h_a found at site
/// h (<see cref="Layer"/>): the six relations .rga_a … .rwa_b, their mean (headline), and the random baseline for the layer's
/// sizes (.baseline, .baseline_*; computed at the first measurement).
/// </summary>
[MetricRuntime("alignment")]
internal sealed class AlignmentMetric : MetricRuntime
{
    readonly int _site, _a, _b;
    readonly string _weight;
    /// <summary>At a convolution: its stride and padding (null for a Linear layer).</summary>
    readonly ConvGeometry? _conv;
    CrhAlignment? _baseline;

    public AlignmentMetric(PlanScope s) : base(s)
    {
        _site = s.SiteNode();
        (_a, _b, _weight, _conv) = Layer(s.Model, _site) ?? throw new SymDslException(
            $"diagnose {s.D.Key}: alignment needs a Linear or Conv layer that consumes site {s.Target} (directly, after a BatchNorm, or a Linear after global_avg_pool) or produces it directly; there is none");
    }

    public override IEnumerable<int> Sites => [_site, _a, _b];

    /// <summary>A convolution read as a linear map on unfolded patches (Measures.Alignment.CrhConv).</summary>
    internal sealed record ConvGeometry(long Stride, long Padding);

    /// <summary>
    /// The layer h_b = W h_a of the CRH alignment at site node <paramref name="site"/>, by the first rule that applies:
    /// (1) the first Linear layer applied to the site (h_a = the site, h_b = its output); (2) the first Conv1d/Conv2d applied
    /// to the site (h_a = the site's unfolded patches, h_b = the output per position; <see cref="ConvGeometry"/>);
    /// (3) a BatchNorm applied to the site whose output a convolution reads (BatchNorm-then-conv: the layer is that convolution,
    /// h_a = the BatchNorm's output, the convolution's actual input); (4) a global average pool of the site read by a Linear
    /// (a [C, H, W] site feeding a pooled classifier: the layer is that Linear, h_a = the pooled vector — the same numbers as
    /// alignment at the pooled site); (5) the Linear or convolution that produces the site directly (h_a = its input,
    /// h_b = the site). Returns node ids, the weight's logical name and, for a convolution, its geometry; null when none applies.
    /// </summary>
    static (int a, int b, string weight, ConvGeometry? conv)? Layer(ModelIR model, int site)
    {
        string? Weight(NodeIR n) => n.Op == OpKind.Layer ? LayerDefinition.Of(model.Layer(n.Attr("layer")).Kind).LinearWeight : null;
        ConvGeometry? Conv(NodeIR n)
        {
            if (n.Op != OpKind.Layer) return null;
            var layer = model.Layer(n.Attr("layer"));
            return LayerDefinition.Of(layer.Kind) is SymDsl.Vocabulary.Layers.Convolution
                ? new ConvGeometry(Arg(layer, "stride", 1), Arg(layer, "padding", 0)) : null;
        }
        static long Arg(LayerIR l, string name, long fallback) => l.Args.TryGetValue(name, out var v) ? v.AsInt() : fallback;
        bool IsBatchNorm(NodeIR n) => n.Op == OpKind.Layer && LayerDefinition.Of(model.Layer(n.Attr("layer")).Kind) is SymDsl.Vocabulary.Layers.BatchNorm;
        bool IsGlobalPool(NodeIR n) => n.Op == OpKind.Activation && n.Shape.Count == 1
            && Functions.Get(n.Attr("fn")) is var f && f.Has(FunctionProperties.OverPositions) && f.Has(FunctionProperties.Linear);
        IEnumerable<NodeIR> Consumers(int id) => model.Nodes.Where(n => n.Inputs.Count == 1 && n.Inputs[0] == id);
        string WeightOf(NodeIR n, string local) => $"{n.Attr("layer")}.{local}";
        const string ConvWeight = "weight";

        if (Consumers(site).FirstOrDefault(n => Weight(n) is not null) is { } linear) return (site, linear.Id, WeightOf(linear, Weight(linear)!), null);
        if (Consumers(site).FirstOrDefault(n => Conv(n) is not null) is { } conv) return (site, conv.Id, WeightOf(conv, ConvWeight), Conv(conv));
        foreach (var bn in Consumers(site).Where(IsBatchNorm))
            if (Consumers(bn.Id).FirstOrDefault(n => Conv(n) is not null) is { } c) return (bn.Id, c.Id, WeightOf(c, ConvWeight), Conv(c));
        foreach (var pool in Consumers(site).Where(IsGlobalPool))
            if (Consumers(pool.Id).FirstOrDefault(n => Weight(n) is not null) is { } head) return (pool.Id, head.Id, WeightOf(head, Weight(head)!), null);
        var producer = model.Node(site);
        if (producer.Op == OpKind.Layer && producer.Inputs.Count == 1 && model.Node(producer.Inputs[0]).Type == ElementType.Float32)
        {
            if (Weight(producer) is { } w) return (producer.Inputs[0], site, WeightOf(producer, w), null);
            if (Conv(producer) is { } g) return (producer.Inputs[0], site, WeightOf(producer, ConvWeight), g);
        }
        return null;
    }

    public override IEnumerable<(string Key, double Value)> Measure(ProbeEvaluation e)
    {
        var w = e.Effective[_weight];
        CrhAlignment c;
        long rows, a, b;
        if (_conv is { } conv)
        {
            // im2col: the convolution is the linear map W = weight.reshape(out, in·kᵈ) on the patches (Alignment.CrhConv).
            var (patches, hb, gb, W) = Alignment.ConvRows(e.Sites[_a], e.Sites[_b], e.SiteGrads[_b], w, conv.Stride, conv.Padding);
            c = Alignment.Crh(patches, hb, gb.matmul(W), gb, W);
            (rows, a, b) = (patches.shape[0], W.shape[1], W.shape[0]);
        }
        else
        {
            var ha = ProbeEvaluation.Representation(e.Sites[_a], center: false, lastAxis: w.shape[1]);
            var hb = ProbeEvaluation.Representation(e.Sites[_b], center: false, lastAxis: w.shape[0]);
            var ga = ProbeEvaluation.Representation(e.SiteGrads[_a], center: false, lastAxis: w.shape[1]);
            var gb = ProbeEvaluation.Representation(e.SiteGrads[_b], center: false, lastAxis: w.shape[0]);
            c = Alignment.Crh(ha, hb, ga, gb, w);
            (rows, a, b) = (ha.shape[0], w.shape[1], w.shape[0]);
        }
        // The random baseline (Alignment.RandomBaseline) depends on the sizes only: computed once per clause, then reported each time.
        var baseline = _baseline ??= Alignment.RandomBaseline(rows, a, b, draws: 2, seed: 17);
        return
        [
            (Key, MeanOfSix(c)),
            (Key + ".rga_a", c.RgaA), (Key + ".gwa_a", c.GwaA), (Key + ".rwa_a", c.RwaA),
            (Key + ".rga_b", c.RgaB), (Key + ".gwa_b", c.GwaB), (Key + ".rwa_b", c.RwaB),
            (Key + ".baseline", MeanOfSix(baseline)),
            (Key + ".baseline_rga_a", baseline.RgaA), (Key + ".baseline_gwa_a", baseline.GwaA), (Key + ".baseline_rwa_a", baseline.RwaA),
            (Key + ".baseline_rga_b", baseline.RgaB), (Key + ".baseline_gwa_b", baseline.GwaB), (Key + ".baseline_rwa_b", baseline.RwaB),
        ];
    }

    /// <summary>The headline of an alignment: the mean of its finite relations (NaN when none is).</summary>
    static double MeanOfSix(CrhAlignment c)
    {
        double[] six = [c.RgaA, c.GwaA, c.RwaA, c.RgaB, c.GwaB, c.RwaB];
        var finite = six.Where(double.IsFinite).ToArray();
        return finite.Length > 0 ? finite.Average() : double.NaN;
    }
}
