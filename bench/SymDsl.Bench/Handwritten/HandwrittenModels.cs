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

/// <summary>
/// Hand-written small residual conv net on [1, 28, 28] (bench/models/convnet.sym and examples/resnet/ have the same
/// shapes): Conv2d(1, c, 3, padding 1) → BatchNorm → ReLU → max_pool 2 (14 × 14) → residual block at c channels →
/// Conv2d(c, 2c, 3, stride 2, padding 1) → BatchNorm → ReLU (7 × 7) → residual block at 2c → global average pool → Linear.
/// A residual block: h + BN(conv(ReLU(BN(conv(h))))) followed by ReLU, both convolutions 3 × 3 with padding 1 and no bias
/// (BatchNorm's shift makes it redundant).
/// </summary>
public sealed class HandConvNet : nn.Module<Tensor, Tensor>
{
    // Declared in the order of the .sym file's parameters (RegisterComponents follows field order; the bench copies by order).
    private readonly Conv2d stem;
    private readonly BatchNorm2d stemNorm;
    private readonly HandResidualBlock block1;
    private readonly Conv2d down;
    private readonly BatchNorm2d downNorm;
    private readonly HandResidualBlock block2;
    private readonly Linear head;

    public HandConvNet(int channels, int classes) : base(nameof(HandConvNet))
    {
        stem = nn.Conv2d(1, channels, 3, padding: 1, bias: false);
        stemNorm = nn.BatchNorm2d(channels);
        block1 = new HandResidualBlock(channels);
        down = nn.Conv2d(channels, 2 * channels, 3, stride: 2, padding: 1, bias: false);
        downNorm = nn.BatchNorm2d(2 * channels);
        block2 = new HandResidualBlock(2 * channels);
        head = nn.Linear(2 * channels, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = nn.functional.max_pool2d(nn.functional.relu(stemNorm.forward(stem.forward(x))), 2);
        h = block1.forward(h);
        h = block2.forward(nn.functional.relu(downNorm.forward(down.forward(h))));
        return head.forward(h.mean([2, 3]));
    }
}

/// <summary>relu(h + BN(conv(relu(BN(conv(h)))))) at a fixed channel count, 3 × 3 convolutions with padding 1, no bias.</summary>
public sealed class HandResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d norm1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d norm2;

    public HandResidualBlock(int channels) : base(nameof(HandResidualBlock))
    {
        conv1 = nn.Conv2d(channels, channels, 3, padding: 1, bias: false);
        norm1 = nn.BatchNorm2d(channels);
        conv2 = nn.Conv2d(channels, channels, 3, padding: 1, bias: false);
        norm2 = nn.BatchNorm2d(channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h)
    {
        var r = nn.functional.relu(norm1.forward(conv1.forward(h)));
        return nn.functional.relu(h + norm2.forward(conv2.forward(r)));
    }
}

/// <summary>
/// Hand-written small byte-level transformer with the shapes of bench/models/transformer.sym: Embedding(256, d) →
/// depth pre-norm blocks (x + attn(LN(x)) with causal multi-head self-attention; x + down(gelu(up(LN(x))))) → LN →
/// Linear(d, 256), logits at every position. No positional embedding (the causal mask alone orders the positions).
/// </summary>
public sealed class HandTransformer : nn.Module<Tensor, Tensor>
{
    private readonly Embedding emb;
    private readonly ModuleList<HandTransformerBlock> blocks = new();
    private readonly LayerNorm norm;
    private readonly Linear head;

    public HandTransformer(int vocab, int d, int heads, int ff, int depth) : base(nameof(HandTransformer))
    {
        emb = nn.Embedding(vocab, d);
        for (int i = 0; i < depth; i++) blocks.Add(new HandTransformerBlock(d, heads, ff));
        norm = nn.LayerNorm(d);
        head = nn.Linear(d, vocab);
        RegisterComponents();
    }

    public override Tensor forward(Tensor tokens)
    {
        var x = emb.forward(tokens);
        foreach (var block in blocks) x = block.forward(x);
        return head.forward(norm.forward(x));
    }
}

/// <summary>One pre-norm transformer block: causal multi-head self-attention and a GELU MLP, each with a residual add.</summary>
public sealed class HandTransformerBlock : nn.Module<Tensor, Tensor>
{
    // Declared in the order of the .sym file's parameters (RegisterComponents follows field order; the bench copies by order).
    private readonly LayerNorm norm1;
    private readonly Linear q, k, v, o;
    private readonly LayerNorm norm2;
    private readonly Linear up, down;
    private readonly int heads;

    public HandTransformerBlock(int d, int heads, int ff) : base(nameof(HandTransformerBlock))
    {
        this.heads = heads;
        norm1 = nn.LayerNorm(d);
        q = nn.Linear(d, d);
        k = nn.Linear(d, d);
        v = nn.Linear(d, d);
        o = nn.Linear(d, d);
        norm2 = nn.LayerNorm(d);
        up = nn.Linear(d, ff);
        down = nn.Linear(ff, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], dh = d / heads;
        var z = norm1.forward(x);
        Tensor Split(Tensor y) => y.view(b, t, heads, dh).transpose(1, 2);
        var scores = Split(q.forward(z)).matmul(Split(k.forward(z)).transpose(-2, -1)) / Math.Sqrt(dh);
        var mask = ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1);
        var attended = nn.functional.softmax(scores.masked_fill(mask, double.NegativeInfinity), -1).matmul(Split(v.forward(z)));
        var a = x + o.forward(attended.transpose(1, 2).reshape(b, t, d));
        return a + down.forward(nn.functional.gelu(up.forward(norm2.forward(a))));
    }
}
