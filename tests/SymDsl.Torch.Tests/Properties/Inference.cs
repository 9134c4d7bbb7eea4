using SymDsl.IR;

namespace SymDsl.Torch.Tests.Properties;

/// <summary>A loss binding under test: the outputs a cross-entropy loss reads (compared up to a shift); none = every output fixed.</summary>
public sealed record LossChoice(ISet<string> CrossEntropy)
{
    public static readonly LossChoice None = new(new HashSet<string>());
    public override string ToString() => CrossEntropy.Count == 0 ? "loss: none" : $"loss: cross_entropy on {string.Join(", ", CrossEntropy.Order())}";
}

/// <summary>The adapter between the properties and the inference under test (the only file that names its API).</summary>
public static class Inference
{
    /// <summary>The loss bindings a model is checked under.</summary>
    public static IEnumerable<LossChoice> Bindings(ModelIR model, GeneratedModel gm, int seed)
    {
        yield return LossChoice.None;
    }

    /// <summary>Every candidate the inference reports for <paramref name="model"/> under <paramref name="loss"/>.</summary>
    public static IReadOnlyList<Candidate> Candidates(ModelIR model, LossChoice loss) =>
        model.Symmetries.Select(s => new Candidate(s, [s.Target], true, null, s.Kind != SymmetryKind.Scale, false, "")).ToList();
}
