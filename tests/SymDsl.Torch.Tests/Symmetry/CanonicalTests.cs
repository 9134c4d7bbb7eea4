using SymDsl.IR;
using SymDsl.Tests;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Symmetry;

/// <summary>
/// <see cref="Canonical"/>: canon(g·θ) = canon(θ) for random group elements g (permutations, rescalings, signs, scale,
/// translation — every inferred symmetry but rotation) on an MLP, a deep MLP (overlapping rescalings), a tanh net (signs), a
/// conv net with BatchNorm (buffers) and an attention model; the canonical point computes the same function; the conventions
/// (balanced norms, signs, sort order, mean-zero shift) hold.
/// </summary>
public class CanonicalTests
{
    const string DeepMlp = """
        model DeepMlp {
            input x: [64]
            layer fc1 = Linear(64, 9)
            layer fc2 = Linear(9, 7)
            layer fc3 = Linear(7, 10)
            h1 = relu(fc1(x))
            h2 = relu(fc2(h1))
            output logits = fc3(h2)
        }
        train DeepMlp {
            data digits()
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.1)
            batch 8
            steps 1
        }
        """;

    const string Tanh = """
        model TanhNet {
            input x: [5]
            layer fc1 = Linear(5, 8)
            layer fc2 = Linear(8, 6)
            layer fc3 = Linear(6, 2)
            h1 = tanh(fc1(x))
            h2 = tanh(fc2(h1))
            output y = fc3(h2)
        }
        """;

    const string Attention = """
        model Attn(d: int = 16, heads: int = 4) {
            input x: [6, 5]
            layer proj = Linear(5, d)
            layer ln   = LayerNorm(d)
            layer attn = SelfAttention(d, heads, causal = true)
            layer head = Linear(d, 3)
            z = proj(x)
            a = attn(ln(z))
            pooled = mean(a)
            output logits = head(pooled)
        }
        """;

    public static TheoryData<string> Models() => new() { "DeepMlp", "Tanh", "ConvBatchNorm", "Attention" };

    static string Text(string name) => name switch
    {
        "DeepMlp" => DeepMlp,
        "Tanh" => Tanh,
        "ConvBatchNorm" => CalculusModels.ConvBatchNorm,
        "Attention" => Attention,
        _ => throw new ArgumentException(name),
    };

    /// <summary>The model with its train block's symmetries (when it has one) and the outputs its loss reads shift-invariantly.</summary>
    static (ModelIR Model, HashSet<string> Centred) Compile(string name)
    {
        var c = Compiler.CompileText("t.sym", Text(name));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var program = c.Program!;
        if (program.Trains.Count == 0) return (program.Models[0], []);
        var train = program.Trains[0];
        return (program.ModelFor(train), Vocabulary.Losses.Get(train.Loss.Kind).ShiftInvariant ? [train.Loss.Output] : []);
    }

    /// <summary>Parameters: the layers' initialisation plus N(0, 0.1²) (biases non-zero); buffers: random running statistics.</summary>
    static (Dictionary<string, Tensor> P, Dictionary<string, Tensor> B) Point(SymModel m, long seed)
    {
        var gen = Gen(seed);
        var p = m.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach() + Randn(gen, kv.Value.shape) * 0.1);
        var b = m.Buffers().ToDictionary(kv => kv.Key, kv => kv.Key.EndsWith("running_var")
            ? Randn(gen, kv.Value.shape).abs() + 0.5
            : Randn(gen, kv.Value.shape) * 0.3);
        return (p, b);
    }

    /// <summary>g = a random element of every non-rotation symmetry, applied one after the other.</summary>
    static (Dictionary<string, Tensor> P, Dictionary<string, Tensor> B) RandomElement(IEnumerable<SymmetryIR> symmetries, Dictionary<string, Tensor> p,
        Dictionary<string, Tensor> b, int seed)
    {
        var rng = new Random(seed);
        foreach (var sym in symmetries.Where(s => s.Kind != SymmetryKind.Rotation))
        {
            var g = GroupActions.Sample(sym, rng, scale: 0.7);
            p = GroupActions.Apply(sym, g, p);
            b = GroupActions.ApplyToBuffers(sym, g, b);
        }
        return (p, b);
    }

    /// <summary>max |a − b| over every entry, relative to the largest |a| over every tensor (a zeroed bias has no scale of its own).</summary>
    static double RelativeDistance(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b) =>
        RelativeDistance(a, b, out _);

    static double RelativeDistance(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, out string worstKey)
    {
        double scale = Math.Max(a.Values.Max(x => x.abs().max().item<double>()), 1e-300);
        double worst = 0;
        worstKey = "";
        foreach (var (k, x) in a)
        {
            double d = (x - b[k]).abs().max().item<double>() / scale;
            if (d >= worst) { worst = d; worstKey = k; }
        }
        return worst;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Canonical_form_of_a_transformed_point_equals_that_of_the_point_and_keeps_the_function(string name)
    {
        var (model, centred) = Compile(name);
        Assert.Contains(model.Symmetries, s => s.Kind == SymmetryKind.Permutation);
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, seed: 3);
        m.to(ScalarType.Float64);
        m.eval();
        var (p, b) = Point(m, 11);
        var inputs = ModelVerification.RandomInputs(model, Gen(5));

        for (int trial = 0; trial < 2; trial++)
        {
            var (gp, gb) = RandomElement(model.Symmetries, p, b, seed: 100 + trial);
            Assert.True(RelativeDistance(p, gp) > 1e-2, "the random element moved nothing");

            using var c0 = Canonical.Canonicalize(model.Symmetries, p, b, model);
            using var c1 = Canonical.Canonicalize(model.Symmetries, gp, gb, model);
            double dp = RelativeDistance(c0.Parameters, c1.Parameters, out var worst);
            Assert.True(dp < 1e-6, $"{name}: canonical parameters differ by {dp:E2} (relative, {worst})");
            if (b.Count > 0)
            {
                double db = RelativeDistance(c0.Buffers, c1.Buffers);
                Assert.True(db < 1e-6, $"{name}: canonical buffers differ by {db:E2} (relative)");
            }
            Assert.True(c0.Residual <= Canonical.Tolerance, $"{name}: continuous phase stopped at residual {c0.Residual:E2} after {c0.Sweeps} sweeps");

            // Same function: exact symmetries to 1e-9; BatchNorm's eps makes rescale/scale before it hold to ~eps/var.
            double tolerance = model.Symmetries.All(s => s.Exact) && b.Count == 0 ? 1e-9 : 1e-4;
            double df = Canonical.OutputDifference(m, model, inputs, p, b, c0.Parameters, c0.Buffers, centred);
            Assert.True(df < tolerance, $"{name}: the canonical point changes the outputs by {df:E2} (relative)");
        }
    }

    [Fact]
    public void Rescale_units_are_balanced_signs_follow_the_largest_incoming_weight_and_units_are_sorted()
    {
        using var scope = NewDisposeScope();
        var p = Mlp(4, 6, 3, seed: 7);
        SymmetryIR[] syms =
        [
            Sym(SymmetryKind.Rescale, 6, HiddenActions()),
            Sym(SymmetryKind.Permutation, 6, HiddenActions()),
            new("translation(y)", SymmetryKind.Translation, "y", 1, 1, [S("fc2.bias")], false, true, SymDsl.Text.SourceSpan.None("t.sym")),
        ];
        using var c = Canonical.Canonicalize(syms, p);
        var q = c.Parameters;
        var incoming = (q["fc1.weight"].square().sum(new long[] { 1 }) + q["fc1.bias"].square()).sqrt();
        var outgoing = q["fc2.weight"].square().sum(new long[] { 0 }).sqrt();
        Assert.True((incoming - outgoing).abs().max().item<double>() < 1e-10,
            $"‖in_i‖ = ‖out_i‖ at the balanced point: {string.Join(", ", incoming.data<double>().ToArray())} vs {string.Join(", ", outgoing.data<double>().ToArray())}");
        var o = outgoing.data<double>().ToArray();
        for (int i = 1; i < o.Length; i++) Assert.True(o[i - 1] >= o[i], "units sorted by descending outgoing norm");
        Assert.True(Math.Abs(q["fc2.bias"].mean().item<double>()) < 1e-12, "logit bias mean zero");
        Assert.Equal(["balanced", "mean_zero", "sorted"], c.Steps.Select(s => s.Action));

        // The balanced point is the minimum-norm point of the rescale orbit: no random rescaling lowers the norm.
        double norm = q.Values.Sum(t => t.square().sum().item<double>());
        var rng = new Random(1);
        for (int k = 0; k < 20; k++)
        {
            var g = GroupActions.Sample(syms[0], rng, scale: 0.3);
            var moved = GroupActions.Apply(syms[0], g, q);
            Assert.True(moved.Values.Sum(t => t.square().sum().item<double>()) >= norm - 1e-12);
        }
    }

    [Fact]
    public void Sign_rule_is_the_largest_entry_then_the_sum_on_ties_and_is_plus_one_for_zero()
    {
        Assert.Equal(-1.0, Canonical.UnitSign([0.1, -0.9, 0.5]));
        Assert.Equal(1.0, Canonical.UnitSign([0.1, 0.9, -0.5]));
        // |−0.9| = |0.9|: tied, so the sum (0.1 + 0.2 − 0.9 + 0.9 > 0) decides.
        Assert.Equal(1.0, Canonical.UnitSign([0.1, -0.9, 0.9, 0.2]));
        Assert.Equal(-1.0, Canonical.UnitSign([-0.1, 0.9, -0.9, -0.2]));
        // Tied and zero sum: the sum of cubes (−0.8³ + 0.5³ + 0.3³ < 0).
        Assert.Equal(-1.0, Canonical.UnitSign([0.9, -0.9, -0.8, 0.5, 0.3]));
        Assert.Equal(1.0, Canonical.UnitSign([0.0, 0.0]));
        Assert.Equal(1.0, Canonical.UnitSign([]));
        // A sign flip of the unit flips the rule's answer: s(−w)·(−w) = s(w)·w.
        var rng = new Random(4);
        for (int k = 0; k < 50; k++)
        {
            var w = Enumerable.Range(0, 5).Select(_ => GroupActions.Gaussian(rng)).ToArray();
            Assert.Equal(-Canonical.UnitSign(w), Canonical.UnitSign(w.Select(x => -x).ToArray()));
        }
    }

    [Fact]
    public void Canonicalisation_leaves_its_inputs_alone_and_leaks_no_tensors()
    {
        var (model, _) = Compile("ConvBatchNorm");
        using var outer = NewDisposeScope();
        using var m = new SymModel(model, seed: 1);
        m.to(ScalarType.Float64);
        var (p, b) = Point(m, 2);
        var copy = p.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Canonical.Canonicalize(model.Symmetries, p, b, model).Dispose(); // warm-up (lazy native state)
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var inner = NewDisposeScope())
            Canonical.Canonicalize(model.Symmetries, p, b, model).Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(0.0, RelativeDistance(copy, p));
    }

    [Fact]
    public void Rotation_symmetries_are_left_out_and_said_so()
    {
        var (model, _) = Compile("Attention");
        Assert.Contains(model.Symmetries, s => s.Kind == SymmetryKind.Rotation);
        using var scope = NewDisposeScope();
        using var m = new SymModel(model, seed: 1);
        m.to(ScalarType.Float64);
        using var c = Canonical.Canonicalize(model.Symmetries, m.EffectiveParameters(), null, model);
        Assert.All(c.Steps.Where(s => s.Kind == SymmetryKind.Rotation), s => Assert.Equal("left_out", s.Action));
        Assert.All(c.Steps.Where(s => s.Kind != SymmetryKind.Rotation), s => Assert.NotEqual("left_out", s.Action));
        Assert.Equal(model.Symmetries.Count, c.Steps.Count);
    }
}
