namespace SymDsl.Vocabulary;

/// <summary>
/// A loss of the language: <c>cross_entropy(logits, label)</c>, <c>mse(y, target)</c>. <see cref="ShiftInvariant"/>: adding
/// c·1 to the output it reads leaves the loss unchanged (what translation symmetry needs); <see cref="NeedsLabels"/>: the
/// target is a class index.
/// </summary>
public sealed record LossDefinition(string Name, bool ShiftInvariant, bool NeedsLabels, string Meaning);

/// <summary>The losses of the language, each defined once.</summary>
public static class Losses
{
    public static readonly IReadOnlyList<LossDefinition> All =
    [
        new("cross_entropy", ShiftInvariant: true, NeedsLabels: true, "softmax cross-entropy of the logits against a class label"),
        new("mse", ShiftInvariant: false, NeedsLabels: false, "mean squared error against a float target"),
    ];

    static readonly Dictionary<string, LossDefinition> byName = All.ToDictionary(l => l.Name);

    public static LossDefinition? Find(string name) => byName.GetValueOrDefault(name);
    public static LossDefinition Get(string name) => byName.TryGetValue(name, out var l) ? l : throw new KeyNotFoundException($"no loss '{name}'");
    public static IEnumerable<string> Names => All.Select(l => l.Name);
}
