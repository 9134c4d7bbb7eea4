using System.Globalization;
using System.Text;
using SymDsl.IR;

namespace SymDsl.Torch.Tests.Properties;

/// <summary>One symmetry the inference considered, with its verdict, as the property checks read it.</summary>
/// <param name="Sites">The sites whose units it acts on.</param>
/// <param name="Holds">The inference says it holds (it must verify).</param>
/// <param name="Denial">When it does not hold: "does-not-hold" or "cannot-prove".</param>
/// <param name="Exact">Exact, or approximate (a LayerNorm's eps makes scale invariance approximate): then verified with eps = 0.</param>
/// <param name="NecessaryObstacle">For a "does-not-hold" verdict: whether at least one obstacle is marked necessary.</param>
/// <param name="Why">The verdict's reasons, for the failure report.</param>
public sealed record Candidate(SymmetryIR Symmetry, IReadOnlyList<string> Sites, bool Holds, string? Denial, bool Exact, bool NecessaryObstacle, string Why);

/// <summary>Counts over a run of the properties (<see cref="SymmetryProperties.Check"/>), and every failure with its model text.</summary>
public sealed class PropertyTally
{
    public int Models, Flat, Bindings, Candidates, Holds, Approximate, Verified, DeniedButEquivalent, DoesNotHold, CannotProve, Misses, SoundnessFailures, ObstacleFailures;
    public int Spaces, FixedSpaces, SpaceTrials, SpaceSymmetries, SpaceMisses, Errors;
    public double WorstHoldsError, WorstApproximateError, SmallestDeniedError = double.PositiveInfinity;
    public double CompileSeconds, LowerSeconds, CandidateSeconds, SpaceSeconds;
    public readonly SortedDictionary<string, int> Features = new(StringComparer.Ordinal);
    public readonly SortedDictionary<string, int> HoldsByKind = new(StringComparer.Ordinal);
    public readonly SortedDictionary<string, int> SpaceFoundByKind = new(StringComparer.Ordinal);
    /// <summary>Each failure: a short stable key (seed, binding, what) and the full text with the model.</summary>
    public readonly List<(string Key, string Text)> Failures = [];
    /// <summary>Not failures: what a reader of the report should see (approximate-only symmetries found by the search).</summary>
    public readonly List<string> Notes = [];

    public int FailureCount => SoundnessFailures + Misses + ObstacleFailures + SpaceMisses + Errors;

    public void Add(PropertyTally o)
    {
        Models += o.Models; Flat += o.Flat; Bindings += o.Bindings; Candidates += o.Candidates; Holds += o.Holds; Approximate += o.Approximate; Verified += o.Verified; DeniedButEquivalent += o.DeniedButEquivalent;
        DoesNotHold += o.DoesNotHold; CannotProve += o.CannotProve; Misses += o.Misses; SoundnessFailures += o.SoundnessFailures;
        ObstacleFailures += o.ObstacleFailures; Spaces += o.Spaces; FixedSpaces += o.FixedSpaces; SpaceTrials += o.SpaceTrials; SpaceSymmetries += o.SpaceSymmetries;
        SpaceMisses += o.SpaceMisses; Errors += o.Errors;
        WorstHoldsError = Math.Max(WorstHoldsError, o.WorstHoldsError);
        WorstApproximateError = Math.Max(WorstApproximateError, o.WorstApproximateError);
        CompileSeconds += o.CompileSeconds; LowerSeconds += o.LowerSeconds; CandidateSeconds += o.CandidateSeconds; SpaceSeconds += o.SpaceSeconds;
        SmallestDeniedError = Math.Min(SmallestDeniedError, o.SmallestDeniedError);
        foreach (var (k, v) in o.Features) Features[k] = Features.GetValueOrDefault(k) + v;
        foreach (var (k, v) in o.HoldsByKind) HoldsByKind[k] = HoldsByKind.GetValueOrDefault(k) + v;
        foreach (var (k, v) in o.SpaceFoundByKind) SpaceFoundByKind[k] = SpaceFoundByKind.GetValueOrDefault(k) + v;
        Failures.AddRange(o.Failures);
        Notes.AddRange(o.Notes);
    }

    public string Summary()
    {
        static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.AppendLine($"models {N(Models)} ({N(Flat)} skipped: an output is 0 on every probe example, or not finite), {N(Bindings)} model × loss bindings, candidates {N(Candidates)}");
        sb.AppendLine($"(a) soundness: inferred (holds) {N(Holds)} ({N(Approximate)} approximate), verified {N(Verified)}, failed {N(SoundnessFailures)}; worst relative error of a verified one {WorstHoldsError:0.0e+0} "
            + $"(approximate ones with eps = 0; with eps as written, worst {WorstApproximateError:0.0e+0})");
        sb.AppendLine($"    inferred by kind: {string.Join(", ", HoldsByKind.Select(kv => $"{kv.Key} {N(kv.Value)}"))}");
        sb.AppendLine($"(b) completeness: denied {N(DoesNotHold + CannotProve)} (does-not-hold {N(DoesNotHold)}, cannot-prove {N(CannotProve)}); "
            + $"misses (a denied candidate that verifies) {N(Misses)}, denied but the same action as one that holds {N(DeniedButEquivalent)}; does-not-hold without a necessary obstacle {N(ObstacleFailures)}; "
            + $"smallest error of a denied candidate {(double.IsInfinity(SmallestDeniedError) ? "-" : SmallestDeniedError.ToString("0.0e+0", CultureInfo.InvariantCulture))}");
        sb.AppendLine($"    numerical search: {N(Spaces)} unit spaces ({N(FixedSpaces)} fixed by a model input or output, not searched), {N(SpaceTrials)} trials (space × permutation/rescale/sign/rotation, layer × scale/translation, attention qk/vo), {N(SpaceSymmetries)} symmetries found numerically "
            + $"({string.Join(", ", SpaceFoundByKind.Select(kv => $"{kv.Key} {N(kv.Value)}"))}); missed by the inference {N(SpaceMisses)}");
        sb.AppendLine($"failures {N(FailureCount)}: soundness {N(SoundnessFailures)}, misses {N(Misses)}, space misses {N(SpaceMisses)}, obstacles {N(ObstacleFailures)}, errors {N(Errors)}");
        sb.AppendLine($"time: compile {CompileSeconds:0.0} s, lower {LowerSeconds:0.0} s, inference and candidates {CandidateSeconds:0.0} s, space search {SpaceSeconds:0.0} s");
        sb.AppendLine($"features: {string.Join(", ", Features.Select(kv => $"{kv.Key} {N(kv.Value)}"))}");
        return sb.ToString();
    }
}

/// <summary>
/// The properties of issue 10, item 5, on one generated model, in float64:
/// (a) soundness: every candidate the inference says holds verifies — to 1e-8 relative when it says exact; when it says
/// approximate (a LayerNorm's eps), to 1e-8 on the same model with every eps = 0, the limit in which it must be exact
/// (the error on the model as written is reported, not judged: it is eps/(2·var) and grows without bound as the variance shrinks);
/// (b) completeness: every candidate it denies, applied with random non-degenerate group elements to the eps = 0 model,
/// changes the outputs by more than 1e-8 unless a candidate that holds has the same action (same parameters and axes)
/// and contains its group; every "does not hold" names a necessary obstacle; and a numerical search
/// (<see cref="NaturalSpaces"/>, <see cref="LayerProbes"/>) finds no symmetry that no holding candidate covers.
/// </summary>
public static class SymmetryProperties
{
    public const double ExactTolerance = 1e-8;
    const int Trials = 2;

    static readonly SymmetryKind[] SpaceKinds = [SymmetryKind.Permutation, SymmetryKind.Rescale, SymmetryKind.Sign, SymmetryKind.Rotation];

    /// <param name="conv">Check the conv net of the seed (<see cref="ModelGenerator.GenerateConv"/>) instead of its model.</param>
    public static PropertyTally Check(int seed, bool spaces = true, bool conv = false)
    {
        var gm = conv ? ModelGenerator.GenerateConv(seed) : ModelGenerator.Generate(seed);
        var tally = new PropertyTally { Models = 1 };
        foreach (var f in gm.Features) tally.Features[f] = 1;
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var model = CompileOne(gm, gm.Text, tally);
            var exactText = ModelGenerator.WithExactNorms(gm.Text);
            var exactModel = exactText == gm.Text ? model : CompileOne(gm, exactText, tally);
            tally.CompileSeconds += clock.Elapsed.TotalSeconds;
            if (model is null || exactModel is null) return tally;
            clock.Restart();
            using var probe = new Probe(model, seed);
            using var exactProbe = ReferenceEquals(exactModel, model) ? null : new Probe(exactModel, seed);
            tally.LowerSeconds += clock.Elapsed.TotalSeconds;
            if (probe.Unjudgeable || exactProbe?.Unjudgeable == true) { tally.Flat++; return tally; }
            foreach (var binding in Inference.Bindings(model, gm, seed))
                CheckBinding(gm, model, probe, exactProbe ?? probe, binding, seed, spaces, tally);
        }
        catch (Exception e)
        {
            tally.Errors++;
            tally.Failures.Add(Report(gm, "error", $"exception: {e.GetType().Name}: {e.Message}\n{e.StackTrace}"));
        }
        return tally;
    }

    static ModelIR? CompileOne(GeneratedModel gm, string text, PropertyTally tally)
    {
        var c = Compiler.CompileText($"{gm.Name}.sym", text);
        if (!c.HasErrors && c.Program is not null) return c.Program.Models.Single();
        tally.Errors++;
        tally.Failures.Add(Report(gm, "error", "the generated model does not compile:\n  " + string.Join("\n  ", c.Diagnostics
            .Where(d => d.Level == SymDsl.Diagnostics.DiagnosticLevel.Error).Select(d => $"{d.Span.Line}:{d.Span.Column} {d.Code} {d.Message}"))));
        return null;
    }

    static void CheckBinding(GeneratedModel gm, ModelIR model, Probe probe, Probe exactProbe, LossChoice binding, int seed, bool spaces, PropertyTally tally)
    {
        tally.Bindings++;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var candidates = Inference.Candidates(model, binding);
        var holding = candidates.Where(c => c.Holds).ToList();
        var rng = new Random(seed * 31 + 7);
        var ce = binding.CrossEntropy;
        foreach (var cand in candidates)
        {
            tally.Candidates++;
            var spelled = $"{cand.Symmetry.Kind.ToString().ToLowerInvariant()}({cand.Symmetry.Target}) [sites {string.Join(", ", cand.Sites)}; dim {cand.Symmetry.Dim}×{cand.Symmetry.Blocks}]";
            if (cand.Holds)
            {
                tally.Holds++;
                var kind = cand.Symmetry.Kind.ToString().ToLowerInvariant();
                tally.HoldsByKind[kind] = tally.HoldsByKind.GetValueOrDefault(kind) + 1;
                double error;
                if (cand.Exact) error = probe.Error(cand.Symmetry, Trials, rng, ce, stopAbove: ExactTolerance);
                else
                {
                    tally.Approximate++;
                    tally.WorstApproximateError = Math.Max(tally.WorstApproximateError, probe.Error(cand.Symmetry, Trials, rng, ce));
                    error = exactProbe.Error(cand.Symmetry, Trials, rng, ce, stopAbove: ExactTolerance);
                }
                if (error <= ExactTolerance)
                {
                    tally.Verified++;
                    tally.WorstHoldsError = Math.Max(tally.WorstHoldsError, error);
                }
                else
                {
                    tally.SoundnessFailures++;
                    tally.Failures.Add(Report(gm, $"{binding} unsound {Short(cand.Symmetry)}", $"UNSOUND ({binding}): {spelled} is inferred ({(cand.Exact ? "exact" : "approximate; checked with every LayerNorm eps = 0")}) but its action changes the outputs by {error:0.0e+0}\n  actions: {Actions(cand.Symmetry)}"));
                }
                continue;
            }
            if (cand.Denial == "does-not-hold") tally.DoesNotHold++; else tally.CannotProve++;
            if (cand.Denial == "does-not-hold" && !cand.NecessaryObstacle)
            {
                tally.ObstacleFailures++;
                tally.Failures.Add(Report(gm, $"{binding} obstacle {Short(cand.Symmetry)}", $"NO NECESSARY OBSTACLE ({binding}): {spelled} does not hold, but none of its obstacles is marked necessary: {cand.Why}"));
            }
            var denied = exactProbe.Error(cand.Symmetry, Trials, rng, ce, stopAbove: ExactTolerance);
            tally.SmallestDeniedError = Math.Min(tally.SmallestDeniedError, denied);
            if (denied > ExactTolerance) continue;
            if (holding.Any(h => Covers(h.Symmetry.Kind, cand.Symmetry.Kind) && SameAction(h.Symmetry, cand.Symmetry)))
            {
                tally.DeniedButEquivalent++;
                continue;
            }
            tally.Misses++;
            tally.Failures.Add(Report(gm, $"{binding} missed {Short(cand.Symmetry)}", $"MISSED ({binding}): {spelled} is {cand.Denial} ({cand.Why}) but verifies: relative error {denied:0.0e+0}\n  actions: {Actions(cand.Symmetry)}"));
        }
        tally.CandidateSeconds += clock.Elapsed.TotalSeconds;
        if (!spaces) return;
        clock.Restart();

        var spaceList = NaturalSpaces.Of(model);
        var trials = new List<(string Label, SymmetryIR Sym, IReadOnlyList<string> Sites)>();
        foreach (var space in spaceList)
        {
            tally.Spaces++;
            if (space.Fixed) { tally.FixedSpaces++; continue; }
            foreach (var kind in SpaceKinds)
            {
                if (kind == SymmetryKind.Permutation && space.Dim < 2) continue;
                var label = $"{kind.ToString().ToLowerInvariant()} of the units of {{{string.Join(", ", space.Sites)}}} (dim {space.Dim})";
                trials.Add((label, new SymmetryIR(label, kind, space.Sites[0], space.Dim, 1, space.Actions, false, false, model.Span), space.Sites));
            }
        }
        foreach (var p in LayerProbes.Of(model, spaceList)) trials.Add((p.Label, p.Symmetry, p.Sites));

        foreach (var (label, sym, sites) in trials)
        {
            var kind = sym.Kind;
            tally.SpaceTrials++;
            var error = exactProbe.Error(sym, Trials, rng, ce, stopAbove: ExactTolerance);
            if (error > ExactTolerance) continue;
            tally.SpaceSymmetries++;
            var k = kind.ToString().ToLowerInvariant();
            tally.SpaceFoundByKind[k] = tally.SpaceFoundByKind.GetValueOrDefault(k) + 1;
            var covered = holding.Any(c => Covers(c.Symmetry.Kind, kind)
                && (c.Sites.Intersect(sites).Any() || sites.Contains(c.Symmetry.Target) || SameAction(c.Symmetry, sym)));
            if (!covered)
            {
                tally.SpaceMisses++;
                tally.Failures.Add(Report(gm, $"{binding} search {label}", $"MISSED ({binding}): {label} holds numerically (relative error {error:0.0e+0}) but no candidate that holds covers it\n  actions: {Actions(sym)}"));
            }
        }
        tally.SpaceSeconds += clock.Elapsed.TotalSeconds;
    }

    /// <summary>Whether a symmetry of kind <paramref name="claimed"/> contains the group of kind <paramref name="found"/> at the same units.</summary>
    static bool Covers(SymmetryKind claimed, SymmetryKind found) =>
        claimed == found || claimed == SymmetryKind.Rotation && found is SymmetryKind.Permutation or SymmetryKind.Rescale or SymmetryKind.Sign;

    /// <summary>The two act on the same parameters along the same axes.</summary>
    static bool SameAction(SymmetryIR a, SymmetryIR b) =>
        a.Actions.Select(x => (x.Parameter, x.Axis)).ToHashSet().SetEquals(b.Actions.Select(x => (x.Parameter, x.Axis)));

    static string Actions(SymmetryIR s) => string.Join(", ", s.Actions.Select(a => $"{a.Parameter}:{a.Axis}:{a.Role}{(a.Unit > 1 ? $"×{a.Unit}" : "")}"));

    static string Short(SymmetryIR s) => $"{s.Kind.ToString().ToLowerInvariant()}({s.Target})";

    static (string Key, string Text) Report(GeneratedModel gm, string key, string what) => ($"seed {gm.Seed}: {key}", $"seed {gm.Seed}: {what}\n{gm.Text}");
}
