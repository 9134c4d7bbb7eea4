using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using static TorchSharp.torch;

namespace SymDsl.Torch.Sampling;

/// <summary>
/// Autoregressive generation of bytes from a model that reads token ids (<c>input tokens: int [T]</c>) and gives
/// next-byte logits at every position (<c>[T, 256]</c>), such as a model trained on <c>text(…)</c> with
/// <c>cross_entropy(logits, next)</c>. Each new byte is predicted from the last T bytes: they fill positions 0 … k−1 of
/// the window (k ≤ T), the rest is padding, and the logits at position k−1 are read, which a causal model computes
/// from positions 0 … k−1 only.
/// </summary>
public static class ByteSampler
{
    /// <summary>The byte vocabulary: the logits must have this many classes.</summary>
    public const int Vocabulary = SymDsl.Vocabulary.DataSourceDefinitions.ByteVocabulary;

    /// <summary>The model's token input and its context T; a clear error when the model does not read tokens.</summary>
    public static (string Input, int Context) Check(ModelIR model, string output)
    {
        const string wanted = "symc sample needs a model with one input of token ids (`input tokens: int [T]`) and next-byte logits [T, 256], as trained on text(…) with cross_entropy(logits, next)";
        if (model.Inputs.Count != 1)
            throw new SymDslException($"model {model.Name} has {model.Inputs.Count} inputs; {wanted}");
        var input = model.Inputs[0];
        if (input.Type != ElementType.Int64 || input.Shape.Count != 1)
            throw new SymDslException($"model {model.Name}'s input '{input.Name}' is {(input.Type == ElementType.Int64 ? "int" : "float")} [{string.Join(", ", input.Shape)}], not a sequence of token ids; {wanted}");
        var o = model.Outputs.FirstOrDefault(x => x.Name == output)
            ?? throw new SymDslException($"model {model.Name} has no output '{output}'");
        var shape = model.Node(o.Node).Shape;
        if (shape.Count != 2 || shape[0] != input.Shape[0] || shape[1] != Vocabulary)
            throw new SymDslException($"output '{output}' of model {model.Name} has shape [{string.Join(", ", shape)}], not next-byte logits [{input.Shape[0]}, {Vocabulary}]; {wanted}");
        return (input.Name, input.Shape[0]);
    }

    /// <summary>
    /// <paramref name="length"/> bytes following <paramref name="prompt"/> (at least one byte). <paramref name="temperature"/>
    /// 0: the most likely byte each time (greedy); otherwise drawn from softmax(logits / temperature) with a generator
    /// seeded from <paramref name="seed"/> alone (the same seed gives the same bytes). <paramref name="model"/> is in
    /// evaluation mode; no gradients are kept and every step's tensors are released.
    /// </summary>
    public static byte[] Generate(SymModel model, ModelIR ir, string output, byte[] prompt, int length, double temperature, long seed)
    {
        if (prompt.Length == 0) throw new ArgumentException("the prompt must hold at least one byte", nameof(prompt));
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        if (!(temperature >= 0) || double.IsInfinity(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature));
        var (input, context) = Check(ir, output);
        var text = new List<byte>(prompt);
        using var generator = new Generator(unchecked((ulong)seed));
        using var _ = no_grad();
        var window = new long[context];
        for (var i = 0; i < length; i++)
        {
            using var scope = NewDisposeScope();
            var k = Math.Min(text.Count, context);
            Array.Clear(window);
            for (var t = 0; t < k; t++) window[t] = text[text.Count - k + t];
            var tokens = tensor(window).reshape(1, context);
            var logits = model.Forward(new Dictionary<string, Tensor> { [input] = tokens })[output][0, k - 1].to_type(ScalarType.Float64);
            long next;
            if (temperature == 0) next = logits.argmax().item<long>();
            else
            {
                var probs = softmax(logits / temperature, 0);
                next = multinomial(probs, 1, replacement: false, generator: generator).item<long>();
            }
            text.Add((byte)next);
        }
        return text.Skip(prompt.Length).ToArray();
    }
}
