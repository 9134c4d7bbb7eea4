namespace SymDsl.Tests;

/// <summary>
/// Models off the σ(Linear(x)) pattern that the symmetry calculus must get right (issue 10's "done when"): each with the
/// symmetries that hold declared, and the ones that do not as comments naming the op that breaks them. Shared by the
/// Core tests (verdicts) and the Torch tests (numerical verification).
/// </summary>
public static class CalculusModels
{
    /// <summary>A pre-norm residual MLP: z1 = z0 + fc2(relu(fc1(ln(z0)))). The stream permutes (LayerNorm's gain and bias
    /// carry it); a per-unit scale of the stream is broken by the LayerNorm; the hidden units permute and rescale.</summary>
    public const string PreNormResidual = """
        model PreNorm(d: int = 6, h: int = 8) {
            input x: [5]
            layer emb = Linear(5, d)
            layer ln = LayerNorm(d)
            layer fc1 = Linear(d, h)
            layer fc2 = Linear(h, d)
            layer head = Linear(d, 3)
            z0 = emb(x)
            u = relu(fc1(ln(z0)))
            z1 = z0 + fc2(u)
            output logits = head(z1)
            symmetry stream : permutation(z1)
            symmetry hp : permutation(u)
            symmetry hs : rescale(u)
        }
        """;

    /// <summary>An RNN whose hidden units permute and flip sign (tanh is odd), read through an alias and `last`.</summary>
    public const string Rnn = """
        model Rec {
            input x: [5, 3]
            layer r = RNN(3, 6)
            layer fc = Linear(6, 2)
            h = r(x)
            g = h
            s = last(g)
            output y = fc(s)
            symmetry p : permutation(h)
            symmetry f : sign(h)
        }
        """;

    /// <summary>relu(ln(lin(x))): permutation and rescale hold (the LayerNorm's gain and bias carry them).</summary>
    public const string LayerNormMlp = """
        model LnMlp {
            input x: [6]
            layer lin = Linear(6, 5)
            layer ln = LayerNorm(5)
            layer out = Linear(5, 3)
            h = relu(ln(lin(x)))
            output logits = out(h)
            symmetry p : permutation(h)
            symmetry s : rescale(h)
        }
        """;

    /// <summary>A residual stream that reaches an output: nothing acts on it (the output fixes its units); the hidden
    /// units inside the residual branch still permute and rescale.</summary>
    public const string StreamToOutput = """
        model Stream {
            input x: [4]
            layer a = Linear(4, 4)
            layer b = Linear(4, 4)
            layer c = Linear(4, 4)
            z = a(x)
            v = relu(b(z))
            output y = z + c(v)
            symmetry vp : permutation(v)
            symmetry vs : rescale(v)
        }
        """;

    /// <summary>A Linear into a LayerNorm: a scale (approximately, eps &gt; 0), a permutation and a shift hold at z; a change
    /// of basis does not.</summary>
    public const string RotationIntoLayerNorm = """
        model RotLn {
            input x: [4]
            layer a = Linear(4, 5)
            layer ln = LayerNorm(5)
            layer o = Linear(5, 2)
            z = a(x)
            output y = o(ln(z))
            symmetry zs : scale(z)
            symmetry zp : permutation(z)
            symmetry zt : translation(z)
        }
        """;

    /// <summary>Attention with mean pooling and a softmax output: heads permute, qk and vo rotate per head.</summary>
    public const string Attention = """
        model Att {
            input x: [4, 6]
            layer attn = SelfAttention(6, 2)
            layer head = Linear(6, 3)
            a = attn(x)
            m = mean(a)
            output p = softmax(head(m))
            symmetry qk : rotation(attn.qk)
            symmetry vo : rotation(attn.vo)
            symmetry hp : permutation(attn.heads)
            symmetry shift : translation(p)
        }
        """;

    /// <summary>A conv net with a residual add, max pooling and global average pooling: the channels (axis 0 of [C, H, W])
    /// permute and rescale through relu, the add, both poolings and into the head; sign and rotation are broken by relu.</summary>
    public const string ConvResidual = """
        model ConvRes {
            input x: [1, 8, 8]
            layer c1 = Conv2d(1, 4, 3, padding = 1)
            layer c2 = Conv2d(4, 4, 3, padding = 1)
            layer c3 = Conv2d(4, 6, 3)
            layer head = Linear(6, 3)
            h1 = relu(c1(x))
            h2 = relu(c2(h1)) + h1
            p = max_pool(h2, 2)
            u = relu(c3(p))
            g = global_avg_pool(u)
            output logits = head(g)
            symmetry rp : permutation(h2)
            symmetry rs : rescale(h2)
            symmetry up : permutation(g)
            symmetry us : rescale(g)
        }
        """;

    /// <summary>Conv channels through tanh (sign), relu (permutation, rescale) and flatten into a Linear: the channel group acts
    /// on the Linear's input columns tiled (Unit = H·W).</summary>
    public const string ConvFlatten = """
        model ConvFlat {
            input x: [2, 6, 6]
            layer c1 = Conv2d(2, 3, 3, padding = 1, bias = false)
            layer c2 = Conv2d(3, 4, 3, stride = 2)
            layer fc = Linear(16, 3)
            h1 = tanh(c1(x))
            h2 = relu(c2(h1))
            f = flatten(h2)
            output y = fc(f)
            symmetry s1 : sign(h1)
            symmetry p1 : permutation(h1)
            symmetry p2 : permutation(h2)
            symmetry r2 : rescale(h2)
        }
        """;

    /// <summary>Conv1d channels through average pooling (linear per channel: a change of basis passes) and max pooling
    /// (permutation and rescale pass; sign does not).</summary>
    public const string Conv1dPools = """
        model Conv1 {
            input x: [3, 12]
            layer c1 = Conv1d(3, 4, 3, padding = 1)
            layer c2 = Conv1d(4, 5, 3)
            layer c3 = Conv1d(5, 2, 1)
            a = avg_pool(c1(x), 2)
            m = max_pool(relu(c2(a)), 2)
            output y = global_avg_pool(c3(m))
            symmetry ar : rotation(a)
            symmetry mp : permutation(m)
            symmetry ms : rescale(m)
        }
        """;

    /// <summary>Linear → BatchNorm → relu → dropout → Linear (BatchNorm on [C]). BatchNorm absorbs a per-channel scale and a
    /// shift of its input (batch statistics), undoes a sign flip of it through γ, keeps a permutation (γ, β and the running
    /// statistics permuted) and carries rescale of its output through γ and β; dropout passes permutation and rescale.
    /// Not holding: sign(u) (relu is not odd), rotation(z) (BatchNorm normalises each channel on its own).</summary>
    public const string BatchNormMlp = """
        model BatchNormMlp(h: int = 8) {
            input x: [5]
            layer fc1 = Linear(5, h)
            layer bn = BatchNorm(h)
            layer fc2 = Linear(h, 3)
            z = fc1(x)
            n = bn(z)
            u = dropout(relu(n), 0.25)
            output logits = fc2(u)
            symmetry up : permutation(u)
            symmetry zr : rescale(z)
            symmetry zs : sign(z)
            symmetry zc : scale(z)
            symmetry zt : translation(z)
            symmetry ur : rescale(u)
        }
        """;

    /// <summary>Conv2d → BatchNorm on [C, H, W] (channels on axis 0, normalised over the batch, H and W) → relu → dropout →
    /// global_avg_pool → Linear: the BatchNorm rules of <see cref="BatchNormMlp"/> on the channels of a conv net.</summary>
    public const string ConvBatchNorm = """
        model ConvBatchNorm(c: int = 4) {
            input x: [2, 6, 6]
            layer conv = Conv2d(2, c, 3, padding = 1)
            layer bn = BatchNorm(c)
            layer head = Linear(c, 3)
            z = conv(x)
            n = bn(z)
            u = dropout(relu(n), 0.1)
            g = global_avg_pool(u)
            output logits = head(g)
            symmetry up : permutation(u)
            symmetry zr : rescale(z)
            symmetry zs : sign(z)
            symmetry zc : scale(z)
            symmetry zt : translation(z)
            symmetry ur : rescale(u)
        }
        """;

    /// <summary>Conv1d → BatchNorm on [C, L] → relu → max_pool → global_avg_pool → Linear.</summary>
    public const string ConvBatchNorm1d = """
        model ConvBatchNorm1d(c: int = 5) {
            input s: [3, 10]
            layer conv = Conv1d(3, c, 3)
            layer bn = BatchNorm(c, momentum = 0.3)
            layer head = Linear(c, 2)
            z = conv(s)
            n = bn(z)
            u = max_pool(relu(n), 2)
            output y = head(global_avg_pool(u))
            symmetry up : permutation(u)
            symmetry zr : rescale(z)
            symmetry zs : sign(z)
            symmetry zt : translation(z)
            symmetry nr : rescale(n)
        }
        """;

    public static IReadOnlyList<(string Name, string Text)> All =>
    [
        (nameof(PreNormResidual), PreNormResidual), (nameof(Rnn), Rnn), (nameof(LayerNormMlp), LayerNormMlp),
        (nameof(StreamToOutput), StreamToOutput), (nameof(RotationIntoLayerNorm), RotationIntoLayerNorm), (nameof(Attention), Attention),
        (nameof(ConvResidual), ConvResidual), (nameof(ConvFlatten), ConvFlatten), (nameof(Conv1dPools), Conv1dPools),
        (nameof(BatchNormMlp), BatchNormMlp), (nameof(ConvBatchNorm), ConvBatchNorm), (nameof(ConvBatchNorm1d), ConvBatchNorm1d),
    ];
}
