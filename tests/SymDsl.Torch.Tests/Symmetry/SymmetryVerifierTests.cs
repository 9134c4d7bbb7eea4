using SymDsl.IR;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static SymDsl.Torch.Tests.Symmetry.HandModels;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Symmetry;

public class SymmetryVerifierTests
{
    private const double Exact = 1e-10;
    private const double Broken = 1e-2;

    private static Tensor Input(long seed, params long[] shape) => Randn(Gen(seed), shape);

    [Fact]
    public void Relu_mlp_permutation_rescale_translation_hold()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 1);
        var fwd = MlpForward(Input(2, 16, 5), Relu);
        foreach (var kind in new[] { SymmetryKind.Permutation, SymmetryKind.Rescale })
        {
            var r = SymmetryVerifier.Verify(Sym(kind, 8, HiddenActions()), fwd, p, trials: 5);
            Assert.True(r.MaxRelativeError < Exact, $"{kind}: {r.MaxRelativeError}");
            Assert.True(r.MaxParameterChange > 0.1, $"{kind} did not move the parameters: {r.MaxParameterChange}");
            Assert.True(r.Holds);
        }
        var tr = SymmetryVerifier.Verify(Sym(SymmetryKind.Translation, 1, S("fc2.bias")), fwd, p, trials: 5);
        Assert.Equal(OutputComparison.ShiftInvariant, tr.Comparison);
        Assert.True(tr.MaxRelativeError < Exact, $"translation: {tr.MaxRelativeError}");
    }

    [Fact]
    public void Float32_models_verify_at_float32_tolerance()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 1).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32));
        var x = Input(2, 16, 5).to(ScalarType.Float32);
        var fwd = MlpForward(x, Relu);
        var ok = SymmetryVerifier.Verify(Sym(SymmetryKind.Rescale, 8, HiddenActions()), fwd, p, 5, tolerance: 1e-4);
        Assert.True(ok.Holds, $"{ok.MaxRelativeError}");
        Assert.True(ok.MaxRelativeError > 0, "float32 round-off should be visible");
        Assert.False(SymmetryVerifier.Verify(Sym(SymmetryKind.Sign, 8, HiddenActions()), fwd, p, 5, tolerance: 1e-4).Holds);
    }

    [Fact]
    public void Translation_changes_raw_logits()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 1);
        var fwd = MlpForward(Input(2, 16, 5), Relu);
        var tr = SymmetryVerifier.Verify(Sym(SymmetryKind.Translation, 1, S("fc2.bias")), fwd, p, trials: 5, comparison: OutputComparison.Raw);
        Assert.True(tr.MaxRelativeError > Broken, $"raw comparison should see the shift: {tr.MaxRelativeError}");
        Assert.False(tr.Holds);
    }

    [Fact]
    public void Sign_on_relu_net_is_caught()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 3);
        var fwd = MlpForward(Input(4, 16, 5), Relu);
        var r = SymmetryVerifier.Verify(Sym(SymmetryKind.Sign, 8, HiddenActions()), fwd, p, trials: 5);
        Assert.True(r.MaxRelativeError > Broken, $"{r.MaxRelativeError}");
        Assert.False(r.Holds);
    }

    [Fact]
    public void Tanh_mlp_sign_and_permutation_hold_rescale_is_caught()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 5);
        var fwd = MlpForward(Input(6, 16, 5), Tanh);
        Assert.True(SymmetryVerifier.Verify(Sym(SymmetryKind.Sign, 8, HiddenActions()), fwd, p, 5).MaxRelativeError < Exact);
        Assert.True(SymmetryVerifier.Verify(Sym(SymmetryKind.Permutation, 8, HiddenActions()), fwd, p, 5).MaxRelativeError < Exact);
        var r = SymmetryVerifier.Verify(Sym(SymmetryKind.Rescale, 8, HiddenActions()), fwd, p, 5);
        Assert.True(r.MaxRelativeError > Broken, $"rescale on tanh: {r.MaxRelativeError}");
    }

    [Fact]
    public void Permutation_on_fc1_inputs_only_is_caught()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 7);
        var fwd = MlpForward(Input(8, 16, 5), Relu);
        var r = SymmetryVerifier.Verify(Sym(SymmetryKind.Permutation, 5, F("fc1.weight", 1)), fwd, p, 5);
        Assert.True(r.MaxRelativeError > Broken, $"{r.MaxRelativeError}");
    }

    [Fact]
    public void Permutation_of_rows_without_consumer_is_caught()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 7);
        var fwd = MlpForward(Input(8, 16, 5), Relu);
        var r = SymmetryVerifier.Verify(Sym(SymmetryKind.Permutation, 8, F("fc1.weight", 0), F("fc1.bias", 0)), fwd, p, 5);
        Assert.True(r.MaxRelativeError > Broken, $"{r.MaxRelativeError}");
    }

    [Theory]
    [InlineData(RotationGroup.Orthogonal)]
    [InlineData(RotationGroup.General)]
    public void Deep_linear_rotation_holds_at_each_hidden_site(RotationGroup group)
    {
        using var scope = torch.NewDisposeScope();
        var p = DeepLinear([6, 5, 4, 3], seed: 9);
        var fwd = DeepLinearForward(Input(10, 20, 6), 3);
        var s1 = Sym(SymmetryKind.Rotation, 5, F("l0.weight", 0), I("l1.weight", 1));
        var s2 = Sym(SymmetryKind.Rotation, 4, F("l1.weight", 0), I("l2.weight", 1));
        foreach (var s in new[] { s1, s2 })
        {
            var r = SymmetryVerifier.Verify(s, fwd, p, 5, rotation: group);
            Assert.True(r.MaxRelativeError < Exact, $"{group}: {r.MaxRelativeError}");
            Assert.True(r.MaxParameterChange > 0.1);
        }
        // The consumer acted on with wrongly as Forward (v' = A v along its columns, i.e. V' = V Aᵀ) equals the Inverse
        // action for orthogonal A (A⁻ᵀ = A) but is not a symmetry for general invertible A.
        var wrong = Sym(SymmetryKind.Rotation, 5, F("l0.weight", 0), F("l1.weight", 1));
        var rw = SymmetryVerifier.Verify(wrong, fwd, p, 5, rotation: group);
        if (group == RotationGroup.General) Assert.True(rw.MaxRelativeError > Broken, $"{rw.MaxRelativeError}");
        else Assert.True(rw.MaxRelativeError < Exact, $"{rw.MaxRelativeError}");
        // Rotating the producer only is never a symmetry.
        var half = Sym(SymmetryKind.Rotation, 5, F("l0.weight", 0));
        Assert.True(SymmetryVerifier.Verify(half, fwd, p, 5, rotation: group).MaxRelativeError > Broken);
    }

    [Fact]
    public void Rotation_through_relu_is_caught()
    {
        using var scope = torch.NewDisposeScope();
        var p = Mlp(5, 8, 3, seed: 11);
        var fwd = MlpForward(Input(12, 16, 5), Relu);
        var r = SymmetryVerifier.Verify(Sym(SymmetryKind.Rotation, 8, HiddenActions()), fwd, p, 5, rotation: RotationGroup.Orthogonal);
        Assert.True(r.MaxRelativeError > Broken, $"{r.MaxRelativeError}");
    }

    [Fact]
    public void Attention_qk_and_vo_rotations_hold_per_head()
    {
        using var scope = torch.NewDisposeScope();
        const int d = 8, heads = 2, dh = 4;
        var p = Attention(d, seed: 13);
        var x = Input(14, 5, d);
        var qk = SymB(SymmetryKind.Rotation, dh, heads,
            F("attn.q.weight", 0), F("attn.q.bias", 0), I("attn.k.weight", 0), I("attn.k.bias", 0));
        var vo = SymB(SymmetryKind.Rotation, dh, heads,
            F("attn.v.weight", 0), F("attn.v.bias", 0), I("attn.o.weight", 1));
        var rqk = SymmetryVerifier.Verify(qk, AttentionForward(x, heads, scoresOnly: true), p, 5);
        Assert.True(rqk.MaxRelativeError < Exact, $"qk: {rqk.MaxRelativeError}");
        var rvo = SymmetryVerifier.Verify(vo, AttentionForward(x, heads, scoresOnly: false), p, 5);
        Assert.True(rvo.MaxRelativeError < Exact, $"vo: {rvo.MaxRelativeError}");
        // One rotation across both heads (Blocks = 1, Dim = d) mixes heads: not a symmetry.
        var mixed = SymB(SymmetryKind.Rotation, d, 1,
            F("attn.q.weight", 0), F("attn.q.bias", 0), I("attn.k.weight", 0), I("attn.k.bias", 0));
        Assert.True(SymmetryVerifier.Verify(mixed, AttentionForward(x, heads, true), p, 5).MaxRelativeError > Broken);
    }

    [Fact]
    public void Layer_norm_scale_holds_and_without_norm_is_caught()
    {
        using var scope = torch.NewDisposeScope();
        var g = Gen(15);
        var p = new Dictionary<string, Tensor> { ["fc.weight"] = Randn(g, 6, 4), ["fc.bias"] = Randn(g, 6) };
        var x = Input(16, 10, 4);
        var sym = Sym(SymmetryKind.Scale, 1, F("fc.weight", -1), F("fc.bias", -1));
        Func<IReadOnlyDictionary<string, Tensor>, Tensor> withNorm = q => LayerNorm(x.matmul(q["fc.weight"].t()) + q["fc.bias"]);
        Func<IReadOnlyDictionary<string, Tensor>, Tensor> without = q => x.matmul(q["fc.weight"].t()) + q["fc.bias"];
        var r = SymmetryVerifier.Verify(sym, withNorm, p, 5);
        Assert.True(r.MaxRelativeError < Exact, $"{r.MaxRelativeError}");
        Assert.True(SymmetryVerifier.Verify(sym, without, p, 5).MaxRelativeError > Broken);
        // Scaling only the weight, not the bias, is not a symmetry of LN(xWᵀ + b).
        var weightOnly = Sym(SymmetryKind.Scale, 1, F("fc.weight", -1));
        Assert.True(SymmetryVerifier.Verify(weightOnly, withNorm, p, 5).MaxRelativeError > Broken);
    }
}

public class RecurrentSymmetryTests
{
    /// <summary>Euler RNN as in the IR: h ← h + dt(−h + act(W_h h + W_x x_t + b)), h₀ = 0; readout V h_T + c.</summary>
    private static Func<IReadOnlyDictionary<string, Tensor>, Tensor> Rnn(Tensor xs, Func<Tensor, Tensor> act, double dt) => p =>
    {
        long n = xs.shape[0], steps = xs.shape[1];
        var h = torch.zeros(n, p["rnn.bias"].shape[0], dtype: ScalarType.Float64);
        for (long t = 0; t < steps; t++)
        {
            var pre = h.matmul(p["rnn.hidden.weight"].t()) + xs[.., t].matmul(p["rnn.input.weight"].t()) + p["rnn.bias"];
            h = h + dt * (-h + act(pre));
        }
        return h.matmul(p["out.weight"].t()) + p["out.bias"];
    };

    private static Dictionary<string, Tensor> Params(int input, int hidden, int output, long seed)
    {
        var g = Gen(seed);
        return new()
        {
            ["rnn.input.weight"] = Randn(g, hidden, input) / Math.Sqrt(input),
            ["rnn.hidden.weight"] = Randn(g, hidden, hidden) / Math.Sqrt(hidden),
            ["rnn.bias"] = Randn(g, hidden) * 0.1,
            ["out.weight"] = Randn(g, output, hidden),
            ["out.bias"] = Randn(g, output),
        };
    }

    /// <summary>hidden.weight is acted on twice (rows Forward, columns Inverse): W_h → g W_h g⁻¹.</summary>
    private static ParamActionIR[] Actions() =>
        [F("rnn.input.weight", 0), F("rnn.hidden.weight", 0), I("rnn.hidden.weight", 1), F("rnn.bias", 0), I("out.weight", 1)];

    [Fact]
    public void Relu_rnn_has_permutation_and_rescale_but_not_sign()
    {
        using var scope = torch.NewDisposeScope();
        var p = Params(3, 6, 2, seed: 61);
        var fwd = Rnn(Randn(Gen(62), 8, 5, 3), Relu, 0.5);
        Assert.True(SymmetryVerifier.Verify(Sym(SymmetryKind.Permutation, 6, Actions()), fwd, p, 4).MaxRelativeError < 1e-10);
        Assert.True(SymmetryVerifier.Verify(Sym(SymmetryKind.Rescale, 6, Actions()), fwd, p, 4).MaxRelativeError < 1e-10);
        Assert.True(SymmetryVerifier.Verify(Sym(SymmetryKind.Sign, 6, Actions()), fwd, p, 4).MaxRelativeError > 1e-2);
        // forgetting the recurrent columns breaks it
        var partial = Sym(SymmetryKind.Permutation, 6, F("rnn.input.weight", 0), F("rnn.hidden.weight", 0), F("rnn.bias", 0), I("out.weight", 1));
        Assert.True(SymmetryVerifier.Verify(partial, fwd, p, 4).MaxRelativeError > 1e-2);
    }

    [Fact]
    public void Linear_rnn_has_general_rotation_tanh_rnn_has_sign()
    {
        using var scope = torch.NewDisposeScope();
        var p = Params(3, 5, 2, seed: 63);
        var xs = Randn(Gen(64), 8, 4, 3);
        var rot = Sym(SymmetryKind.Rotation, 5, Actions());
        Assert.True(SymmetryVerifier.Verify(rot, Rnn(xs, z => z, 0.5), p, 4).MaxRelativeError < 1e-10);
        Assert.True(SymmetryVerifier.Verify(rot, Rnn(xs, Tanh, 0.5), p, 4).MaxRelativeError > 1e-2);
        Assert.True(SymmetryVerifier.Verify(Sym(SymmetryKind.Sign, 5, Actions()), Rnn(xs, Tanh, 0.5), p, 4).MaxRelativeError < 1e-10);
    }
}
