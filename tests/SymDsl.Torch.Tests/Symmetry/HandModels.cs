using SymDsl.IR;
using SymDsl.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Symmetry;

/// <summary>Small models written by hand as functions of a parameter dictionary, and SymmetryIR builders.</summary>
internal static class HandModels
{
    public static SymmetryIR Sym(SymmetryKind kind, int dim, params ParamActionIR[] actions) =>
        SymB(kind, dim, 1, actions);

    public static SymmetryIR SymB(SymmetryKind kind, int dim, int blocks, params ParamActionIR[] actions) =>
        new($"{kind.ToString().ToLowerInvariant()}(h)", kind, "h", dim, blocks, actions, Declared: true, Inferred: false, SourceSpan.None("test.sym"));

    public static ParamActionIR F(string p, int axis) => new(p, axis, ActionRole.Forward);
    public static ParamActionIR I(string p, int axis) => new(p, axis, ActionRole.Inverse);
    public static ParamActionIR S(string p) => new(p, 0, ActionRole.Shift);

    /// <summary>Hidden-unit actions of a two-layer net fc1 → fc2 (rows of fc1.weight/bias forward, columns of fc2.weight inverse).</summary>
    public static ParamActionIR[] HiddenActions() => [F("fc1.weight", 0), F("fc1.bias", 0), I("fc2.weight", 1)];

    public static Generator Gen(long seed) => new Generator((ulong)seed);

    public static Tensor Randn(Generator g, params long[] shape) => torch.randn(shape, ScalarType.Float64, generator: g);

    public static Dictionary<string, Tensor> Mlp(int input, int hidden, int output, long seed)
    {
        var g = Gen(seed);
        return new()
        {
            ["fc1.weight"] = Randn(g, hidden, input) / Math.Sqrt(input),
            ["fc1.bias"] = Randn(g, hidden) * 0.1,
            ["fc2.weight"] = Randn(g, output, hidden) / Math.Sqrt(hidden),
            ["fc2.bias"] = Randn(g, output) * 0.1,
        };
    }

    public static Func<IReadOnlyDictionary<string, Tensor>, Tensor> MlpForward(Tensor x, Func<Tensor, Tensor> act) => p =>
    {
        var h = act(x.matmul(p["fc1.weight"].t()) + p["fc1.bias"]);
        return h.matmul(p["fc2.weight"].t()) + p["fc2.bias"];
    };

    public static Dictionary<string, Tensor> DeepLinear(int[] widths, long seed)
    {
        var g = Gen(seed);
        var d = new Dictionary<string, Tensor>();
        for (int l = 0; l + 1 < widths.Length; l++)
            d[$"l{l}.weight"] = Randn(g, widths[l + 1], widths[l]) / Math.Sqrt(widths[l]);
        return d;
    }

    public static Func<IReadOnlyDictionary<string, Tensor>, Tensor> DeepLinearForward(Tensor x, int layers) => p =>
    {
        var h = x;
        for (int l = 0; l < layers; l++) h = h.matmul(p[$"l{l}.weight"].t());
        return h;
    };

    public static Dictionary<string, Tensor> Attention(int d, long seed)
    {
        var g = Gen(seed);
        var p = new Dictionary<string, Tensor>();
        foreach (var n in new[] { "q", "k", "v", "o" })
        {
            p[$"attn.{n}.weight"] = Randn(g, d, d) / Math.Sqrt(d);
            p[$"attn.{n}.bias"] = Randn(g, d) * 0.1;
        }
        return p;
    }

    /// <summary>Multi-head self-attention on x [T, d]: per head h softmax(q_h k_hᵀ/√dh) v_h, heads concatenated, then o.</summary>
    public static Func<IReadOnlyDictionary<string, Tensor>, Tensor> AttentionForward(Tensor x, int heads, bool scoresOnly) => p =>
    {
        long t = x.shape[0], d = x.shape[1], dh = d / heads;
        var q = (x.matmul(p["attn.q.weight"].t()) + p["attn.q.bias"]).reshape(t, heads, dh).transpose(0, 1); // [H, T, dh]
        var k = (x.matmul(p["attn.k.weight"].t()) + p["attn.k.bias"]).reshape(t, heads, dh).transpose(0, 1);
        var v = (x.matmul(p["attn.v.weight"].t()) + p["attn.v.bias"]).reshape(t, heads, dh).transpose(0, 1);
        var scores = q.matmul(k.transpose(1, 2)) / Math.Sqrt(dh); // [H, T, T]
        if (scoresOnly) return scores;
        var att = scores.softmax(-1).matmul(v).transpose(0, 1).reshape(t, d);
        return att.matmul(p["attn.o.weight"].t()) + p["attn.o.bias"];
    };

    public static Tensor Relu(Tensor z) => z.relu();
    public static Tensor Tanh(Tensor z) => z.tanh();

    /// <summary>Layer norm without affine parameters and with eps = 0 (so that scale invariance is exact).</summary>
    public static Tensor LayerNorm(Tensor z)
    {
        var mu = z.mean(new long[] { -1 }, keepdim: true);
        var c = z - mu;
        var var_ = (c * c).mean(new long[] { -1 }, keepdim: true);
        return c / var_.sqrt();
    }
}
