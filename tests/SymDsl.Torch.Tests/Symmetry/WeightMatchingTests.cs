using SymDsl.IR;
using SymDsl.Tests;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Symmetry;

/// <summary>
/// <see cref="WeightMatching"/> on models whose permutation spaces the compiler inferred (no hand-written spec): an MLP,
/// conv + BatchNorm, attention heads, a residual stream through blocks, conv channels into a flatten. Two independently
/// initialised models stand in for two trained runs (the algebra does not care how the weights were found).
/// </summary>
public class WeightMatchingTests
{
    const string Mlp = """
        model Mlp(w: int = 12) {
            input x: [5]
            layer fc1 = Linear(5, w)
            layer fc2 = Linear(w, w)
            layer fc3 = Linear(w, 3)
            h1 = relu(fc1(x))
            h2 = relu(fc2(h1))
            output logits = fc3(h2)
        }
        """;

    public static TheoryData<string, string> Models() => new()
    {
        { "Mlp", Mlp },
        { "ConvBatchNorm", CalculusModels.ConvBatchNorm },
        { "BatchNormMlp", CalculusModels.BatchNormMlp },
        { "Att", CalculusModels.Attention },
        { "PreNorm", CalculusModels.PreNormResidual },
        { "Net", BlockModels.Stream },
        { "ConvRes", CalculusModels.ConvResidual },
        { "ConvFlat", CalculusModels.ConvFlatten },
        { "Rec", CalculusModels.Rnn },
    };

    static ModelIR Compile(string name, string text)
    {
        var c = Compiler.CompileText("t.sym", text);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return c.Program!.Models.Single(m => m.Name == name);
    }

    /// <summary>A model with random weights (seed) and random BatchNorm statistics, float64, eval mode.</summary>
    static SymModel Random(ModelIR model, long seed)
    {
        var m = new SymModel(model, seed: seed);
        m.to(ScalarType.Float64);
        m.eval();
        using var gen = new Generator((ulong)seed + 100);
        m.SetBuffers(m.Buffers().Where(kv => kv.Value.is_floating_point()).ToDictionary(kv => kv.Key,
            kv => kv.Key.EndsWith("var", StringComparison.Ordinal) ? rand(kv.Value.shape, ScalarType.Float64, generator: gen) + 0.5 : randn(kv.Value.shape, ScalarType.Float64, generator: gen)));
        return m;
    }

    static Dictionary<string, Tensor> Inputs(ModelIR model)
    {
        using var gen = new Generator(7);
        return model.Inputs.ToDictionary(i => i.Name, i => randn([6, .. i.Shape.Select(d => (long)d)], ScalarType.Float64, generator: gen));
    }

    static double MaxRelative(Dictionary<string, Tensor> y, Dictionary<string, Tensor> y2) =>
        y.Max(kv => (kv.Value - y2[kv.Key]).abs().max().item<double>() / Math.Max(1e-12, kv.Value.abs().max().item<double>()));

    [Theory]
    [MemberData(nameof(Models))]
    public void The_aligned_model_computes_Bs_function(string name, string text)
    {
        var model = Compile(name, text);
        var spaces = WeightMatching.Spaces(model);
        Assert.NotEmpty(spaces);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var a = Random(model, 1);
        using var b = Random(model, 2);
        var alignment = WeightMatching.Match(spaces, a.EffectiveParameters(), b.EffectiveParameters(), new System.Random(3));
        Assert.Contains(spaces, s => alignment.Moved(s.Name) > 0); // two random models are not aligned as they are

        var inputs = Inputs(model);
        var before = b.Forward(inputs);
        var parameters = WeightMatching.ApplyAll(spaces, alignment.Permutations, b.EffectiveParameters());
        var buffers = WeightMatching.ApplyAllToBuffers(spaces, alignment.Permutations, b.Buffers());
        using var aligned = Random(model, 2);
        aligned.SetEffectiveParameters(parameters);
        aligned.SetBuffers(buffers);
        var after = aligned.Forward(inputs);
        Assert.True(MaxRelative(before, after) <= 1e-6, $"{name}: {MaxRelative(before, after):E2}");
        // …and it is closer to A than B was (the objective Σ⟨A, π(B)⟩ grew).
        double Dot(IReadOnlyDictionary<string, Tensor> p) => a.EffectiveParameters().Sum(kv => (kv.Value * p[kv.Key]).sum().item<double>());
        Assert.True(Dot(parameters) > Dot(b.EffectiveParameters()), name);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Weight_matching_recovers_a_known_permutation_exactly(string name, string text)
    {
        var model = Compile(name, text);
        var spaces = WeightMatching.Spaces(model);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var a = Random(model, 5);
        var pa = a.EffectiveParameters();
        var rng = new System.Random(11);
        var secret = spaces.ToDictionary(s => s.Name, s => GroupActions.Sample(s, rng));
        var permuted = WeightMatching.ApplyAll(spaces, secret, pa);

        var found = WeightMatching.Match(spaces, pa, permuted, new System.Random(4));
        var restored = WeightMatching.ApplyAll(spaces, found.Permutations, permuted);
        foreach (var (key, value) in pa)
            Assert.True(value.shape.SequenceEqual(restored[key].shape) && (value - restored[key]).abs().max().item<double>() == 0, $"{name}: {key} not restored");

        var identity = WeightMatching.Match(spaces, pa, pa, new System.Random(4));
        Assert.All(spaces, s => Assert.Equal(0, identity.Moved(s.Name)));
        Assert.Equal(1, identity.Sweeps);
    }

    [Fact]
    public void The_spaces_cover_heads_residual_streams_conv_channels_and_batchnorm_buffers()
    {
        var att = WeightMatching.Spaces(Compile("Att", CalculusModels.Attention));
        Assert.Contains(att, s => s.Target == "attn.heads" && s.Actions.Any(x => x.Unit > 1));
        var net = WeightMatching.Spaces(Compile("Net", BlockModels.Stream));
        Assert.Contains(net, s => s.Actions.Any(x => x.Parameter.StartsWith("blk[1]", StringComparison.Ordinal)) && s.Actions.Any(x => x.Parameter.StartsWith("blk[2]", StringComparison.Ordinal)) && s.Actions.Any(x => x.Parameter.StartsWith("inp", StringComparison.Ordinal)));
        var bn = WeightMatching.Spaces(Compile("ConvBatchNorm", CalculusModels.ConvBatchNorm));
        Assert.Contains(bn, s => s.BufferActions.Any(x => x.Parameter == "bn.running_mean"));
        var flat = WeightMatching.Spaces(Compile("ConvFlat", CalculusModels.ConvFlatten));
        Assert.Contains(flat, s => s.Actions.Any(x => x.Unit > 1));
    }

    [Fact]
    public void Procrustes_recovers_a_known_orthogonal_rotation_per_head_and_keeps_the_function()
    {
        var model = Compile("Att", CalculusModels.Attention);
        var spaces = RotationMatching.Spaces(model);
        Assert.Contains(spaces, s => s.Target == "attn.qk" && s.Blocks == 2);
        Assert.Contains(spaces, s => s.Target == "attn.vo" && s.Blocks == 2);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var a = Random(model, 5);
        var pa = a.EffectiveParameters();
        var rng = new System.Random(13);
        var rotated = new Dictionary<string, Tensor>(pa);
        foreach (var s in spaces) rotated = GroupActions.Apply(s, GroupActions.Sample(s, rng, rotation: RotationGroup.Orthogonal), rotated);
        Assert.Contains(pa, kv => (kv.Value - rotated[kv.Key]).abs().max().item<double>() > 1e-3);

        // (1) Procrustes undoes the rotations: the aligned B equals A.
        var found = RotationMatching.Match(spaces, pa, rotated);
        var restored = RotationMatching.ApplyAll(found, rotated);
        foreach (var (key, value) in pa)
            Assert.True((value - restored[key]).abs().max().item<double>() <= 1e-6, $"{key} not restored: {(value - restored[key]).abs().max().item<double>():E2}; " + string.Join(", ", spaces.Select(x => $"{x.Name} {x.Target} {x.Dim}x{x.Blocks} D{x.Declared} I{x.Inferred}: {string.Join(" ", x.Actions)}")));
        Assert.All(spaces, s => Assert.True(found.Distance(s.Name) > 1e-3, string.Join(", ", spaces.Select(x => $"{x.Name} {x.Target} {x.Dim}x{x.Blocks}: {string.Join(" ", x.Actions)}"))));
        var identity = RotationMatching.Match(spaces, pa, pa);
        Assert.All(spaces, s => Assert.True(identity.Distance(s.Name) < 1e-9, $"{s.Name}: {identity.Distance(s.Name):E2}"));

        // (2) Rotating another model towards A keeps that model's function and brings it closer to A.
        using var b = Random(model, 6);
        var pb = b.EffectiveParameters();
        var toA = RotationMatching.Match(spaces, pa, pb);
        var alignedB = RotationMatching.ApplyAll(toA, pb);
        var inputs = Inputs(model);
        var before = b.Forward(inputs);
        using var aligned = Random(model, 6);
        aligned.SetEffectiveParameters(alignedB);
        var after = aligned.Forward(inputs);
        Assert.True(MaxRelative(before, after) <= 1e-6, $"{MaxRelative(before, after):E2}");
        double Dot(IReadOnlyDictionary<string, Tensor> p) => pa.Sum(kv => (kv.Value * p[kv.Key]).sum().item<double>());
        Assert.True(Dot(alignedB) > Dot(pb));
    }

    [Fact]
    public void Assignment_maximises_the_total_score()
    {
        var score = new double[,] { { 1, 5, 0 }, { 4, 1, 0.5 }, { 0, 0.2, 3 } };
        Assert.Equal([1, 0, 2], Assignment.Maximise(score));
        Assert.Equal([0, 1], Assignment.Maximise(new double[,] { { 0, 0 }, { 0, 0 } }));
        Assert.Throws<SymDsl.Diagnostics.SymDslException>(() => Assignment.Maximise(new double[,] { { double.NaN, 1 }, { 1, 0 } }));
    }

    [Fact]
    public void A_barrier_is_the_largest_gap_above_the_straight_line()
    {
        var curve = new List<PathPoint> { new(0, 1.0, 0.9), new(0.5, 2.0, 0.5), new(1, 0.5, 0.95) };
        var barrier = PathBarrier.Of(curve);
        Assert.Equal(2.0 - 0.75, barrier.Loss, 12);
        Assert.Equal(0.925 - 0.5, barrier.Accuracy!.Value, 12);
    }
}
