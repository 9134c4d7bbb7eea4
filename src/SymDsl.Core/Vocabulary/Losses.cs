namespace SymDsl.Vocabulary;

/// <summary>
/// A loss of the language: <c>cross_entropy(logits, label)</c>, <c>mse(y, target)</c>. <see cref="ShiftInvariant"/>: adding
/// c·1 to the output it reads leaves the loss unchanged (what translation symmetry needs); <see cref="NeedsLabels"/>: the
/// target is a class index (the output is [classes] logits); otherwise the target is a real-valued field of the output's shape.
/// <see cref="Example"/>: its two arguments as the docs and messages show them. The loss function itself is in
/// SymDsl.Torch's loss registry (a test checks that every loss has one).
/// </summary>
public sealed record LossDefinition(string Name, bool ShiftInvariant, bool NeedsLabels, string Meaning)
{
    public required string Example { get; init; }
}

/// <summary>The losses of the language, each defined once.</summary>
public static class Losses
{
    public static readonly IReadOnlyList<LossDefinition> All =
    [
        new("cross_entropy", ShiftInvariant: true, NeedsLabels: true, "softmax cross-entropy of the logits against a class label, averaged over the batch and, for logits `[N, classes]` against labels `[N]` (a `next` field), over the N positions") { Example = "logits, label" },
        new("mse", ShiftInvariant: false, NeedsLabels: false, "mean squared error against a float target") { Example = "y, target" },
    ];

    static readonly Dictionary<string, LossDefinition> byName = All.ToDictionary(l => l.Name);

    public static LossDefinition? Find(string name) => byName.GetValueOrDefault(name);
    public static LossDefinition Get(string name) => byName.TryGetValue(name, out var l) ? l : throw new KeyNotFoundException($"no loss '{name}'");
    public static IEnumerable<string> Names => All.Select(l => l.Name);
}
