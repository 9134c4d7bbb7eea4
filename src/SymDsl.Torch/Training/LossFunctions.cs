using SymDsl.Diagnostics;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Training;

/// <summary>
/// The loss function of each loss of <see cref="Vocabulary.Losses"/>, found by name (a test checks that every loss of the
/// language has one). Each takes the model output [N, …] and the target field [N, …] and returns the mean loss.
/// </summary>
public static class LossFunctions
{
    static readonly IReadOnlyDictionary<string, Func<Tensor, Tensor, Tensor>> byName = new Dictionary<string, Func<Tensor, Tensor, Tensor>>
    {
        // logits [..., K], integer labels [...]: the mean over every position.
        ["cross_entropy"] = (output, target) => F.cross_entropy(output.reshape(-1, output.shape[^1]), target.reshape(-1)),
        // the mean over all entries.
        ["mse"] = (output, target) => F.mse_loss(output, target.to_type(output.dtype)),
    };

    public static IEnumerable<string> Implemented => byName.Keys;

    public static Func<Tensor, Tensor, Tensor> Get(string kind) => byName.TryGetValue(kind, out var f) ? f
        : throw new SymDslException($"unknown loss {kind} ({string.Join(", ", Vocabulary.Losses.Names)})");
}
