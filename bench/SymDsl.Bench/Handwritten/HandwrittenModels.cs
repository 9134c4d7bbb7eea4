using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SymDsl.Bench.Handwritten;

/// <summary>What a user would write by hand for bench/models/mlp.sym: Linear → ReLU → Linear.</summary>
public sealed class HandMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public HandMlp(int input, int width, int classes) : base(nameof(HandMlp))
    {
        fc1 = nn.Linear(input, width);
        fc2 = nn.Linear(width, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc2.forward(nn.functional.relu(fc1.forward(x)));
}

/// <summary>Hand-written deep linear network: depth bias-free Linear layers, no nonlinearity.</summary>
public sealed class HandDeepLinear : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> layers = new();

    public HandDeepLinear(int d, int width, int depth, int output) : base(nameof(HandDeepLinear))
    {
        for (int i = 0; i < depth; i++)
            layers.Add(nn.Linear(i == 0 ? d : width, i == depth - 1 ? output : width, hasBias: false));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var layer in layers) x = layer.forward(x);
        return x;
    }
}

/// <summary>Hand-written one-block attention classifier: LayerNorm → multi-head self-attention (no residual, as bench/models/attention.sym) → mean over time → Linear.</summary>
public sealed class HandAttention : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly Linear q, k, v, o, head;
    private readonly int heads;

    public HandAttention(int d, int heads, int classes) : base(nameof(HandAttention))
    {
        this.heads = heads;
        norm = nn.LayerNorm(d);
        q = nn.Linear(d, d);
        k = nn.Linear(d, d);
        v = nn.Linear(d, d);
        o = nn.Linear(d, d);
        head = nn.Linear(d, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], dh = d / heads;
        var z = norm.forward(x);
        Tensor Split(Tensor y) => y.view(b, t, heads, dh).transpose(1, 2);
        var scores = Split(q.forward(z)).matmul(Split(k.forward(z)).transpose(-2, -1)) / Math.Sqrt(dh);
        var attended = nn.functional.softmax(scores, -1).matmul(Split(v.forward(z)));
        var merged = o.forward(attended.transpose(1, 2).reshape(b, t, d));
        return head.forward(merged.mean([1]));
    }
}
