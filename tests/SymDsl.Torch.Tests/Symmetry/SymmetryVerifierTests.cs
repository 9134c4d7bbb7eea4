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
