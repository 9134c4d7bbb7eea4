namespace SymDsl.Tests;

/// <summary>Models written with blocks, shared by the Core tests (inlining, names, inference) and the Torch tests
/// (training, checkpoints, verification); each test adds its own train block.</summary>
public static class BlockModels
{
    /// <summary>A pre-norm residual MLP block: its hidden units permute and rescale.</summary>
    public const string Ffn = """
        model Ffn(d: int = 8, hidden: int = 16) {
            input x: [d]
            layer ln = LayerNorm(d)
            layer fc1 = Linear(d, hidden)
            layer fc2 = Linear(hidden, d)
            h = relu(fc1(ln(x)))
            output y = fc2(h)
            symmetry perm : permutation(h)
            symmetry scale : rescale(h)
        }

        """;

    /// <summary><see cref="Ffn"/> and a model whose residual stream s runs through two instances of it (blk[1], blk[2]).</summary>
    public const string Stream = Ffn + """
        model Net(width: int = 8) {
            input x: [4]
            layer inp = Linear(4, width)
            s[0] = inp(x)
            for i in 1..2 {
                layer blk[i] = Ffn(d = width, hidden = width * 2)
                s[i] = s[i - 1] + blk[i](s[i - 1])
            }
            layer out = Linear(width, 3)
            output logits = out(s[2])
            symmetry stream : permutation(s[2])
        }

        """;
}
