using SymDsl.IR;
using SymDsl.Symmetries;

namespace SymDsl.Torch.Tests.Properties;

/// <summary>A loss binding under test: the outputs a cross-entropy loss reads (compared up to a shift); none = every output fixed.</summary>
public sealed record LossChoice(ISet<string> CrossEntropy)
{
    public static readonly LossChoice None = new(new HashSet<string>());
    public LossBinding Binding => CrossEntropy.Count == 0 ? LossBinding.None : LossBinding.CrossEntropy(CrossEntropy.Order().ToArray());
    public override string ToString() => CrossEntropy.Count == 0 ? "loss: none" : $"loss: cross_entropy on {string.Join(", ", CrossEntropy.Order())}";
}

/// <summary>The adapter between the properties and the inference under test (the only file that names its API).</summary>
public static class Inference
{
    /// <summary>
    /// The loss bindings a model is checked under: none (outputs fixed) always; and for two seeds in three, cross-entropy
    /// as well — on every output together (seed ≡ 0 mod 3) or on one output chosen by the seed (seed ≡ 1 mod 3).
    /// </summary>
    public static IEnumerable<LossChoice> Bindings(ModelIR model, GeneratedModel gm, int seed)
    {
        yield return LossChoice.None;
        var outputs = model.Outputs.Select(o => o.Name).ToList();
        switch (seed % 3)
        {
            case 0: yield return new LossChoice(outputs.ToHashSet()); break;
            case 1: yield return new LossChoice(new HashSet<string> { outputs[seed / 3 % outputs.Count] }); break;
        }
    }

    /// <summary>Every candidate <see cref="SymmetryInference.Candidates"/> reports for <paramref name="model"/> under <paramref name="loss"/>.</summary>
    public static IReadOnlyList<Candidate> Candidates(ModelIR model, LossChoice loss) =>
        new SymmetryInference(model, loss.Binding).Candidates().Select(c => new Candidate(
            c.ToIR(),
            c.Sites.Count > 0 ? c.Sites : c.Target is { } t ? [t] : [],
            c.Verdict == Verdict.Holds,
            c.Verdict switch { Verdict.DoesNotHold => "does-not-hold", Verdict.CannotProve => "cannot-prove", _ => null },
            c.Exact,
            c.Obstacles.Any(o => o.Necessary),
            string.Join("; ", c.Obstacles.Select(o => $"{o}{(o.Necessary ? " [necessary]" : "")}")))).ToList();
}
