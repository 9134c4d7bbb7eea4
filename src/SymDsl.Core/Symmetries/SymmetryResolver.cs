using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Symmetries;

/// <summary>
/// Checks a model's declared symmetries against the calculus and lists its symmetries: once for the model (loss-independent
/// verdicts) and once per train block (with the block's loss bound: translation of the logits a cross-entropy reads).
/// A declaration is an error only when the calculus finds a necessary obstacle; when it cannot decide, a warning.
/// </summary>
public sealed class SymmetryResolver(ModelIR model, IReadOnlyList<DeclaredSymmetry> declared, IReadOnlySet<string>? unresolved = null)
{
    sealed record Checked(DeclaredSymmetry Decl, SymmetryKind Kind);

    readonly List<Checked> deferred = [];
    readonly List<(SymmetryKind Kind, SymmetryCandidate Candidate, string Name)> declaredModel = [];
    readonly HashSet<string> warned = [];
    readonly List<SymmetryIR> lossDependent = [];
    List<SymmetryIR> baseList = [];
    List<SymmetryCandidate> baseHolding = [];
    int blocks;

    /// <summary>The model's symmetries: those that hold whatever the loss, and declared ones the calculus cannot decide.</summary>
    public List<SymmetryIR> ResolveModel(List<Diagnostic> diagnostics)
    {
        var inference = new SymmetryInference(model, LossBinding.None);
        var result = new List<SymmetryIR>();
        foreach (var d in declared)
        {
            var kind = SymmetryInference.ParseKind(d.Kind);
            if (kind is null) { diagnostics.Add(DiagnosticCatalog.UnknownSymmetryKind(d.KindSpan, d.Kind, Names.Suggest(d.Kind, SymmetryInference.KindNames))); continue; }
            if (d.Target is null || unresolved?.Contains(d.Target) == true) continue;
            var spelled = SymmetryInference.Spell(kind.Value, d.Target);
            var (candidate, notATarget) = inference.At(kind.Value, d.Target);
            if (candidate is null)
            {
                ReportNotATarget(d, spelled, notATarget!, diagnostics);
                continue;
            }
            if (declaredModel.FirstOrDefault(x => SymmetryInference.SameSpace(x.Candidate, candidate)) is { Name: { } other })
            {
                diagnostics.Add(DiagnosticCatalog.DuplicateSymmetry(d.Use ?? d.Span, spelled, other));
                continue;
            }
            declaredModel.Add((kind.Value, candidate, d.Name));
            switch (candidate.Verdict)
            {
                case Verdict.Holds:
                    result.Add(candidate.ToIR(d.Name, d.Target, declared: true, span: d.Span));
                    break;
                case Verdict.DoesNotHold when d.Use is { } use:
                    // A block's declaration that held in the block alone (it was checked there) fails where the block is used.
                    diagnostics.Add(DiagnosticCatalog.BlockSymmetryDoesNotHold(use, d.Name, d.Block!.Value.Instance, d.Block.Value.Model, d.Span, spelled, candidate.Main!.ToString()));
                    break;
                case Verdict.DoesNotHold:
                    diagnostics.Add(DiagnosticCatalog.SymmetryDoesNotHold(d.Span, spelled, candidate.Main!.ToString()));
                    break;
                case Verdict.CannotProve when candidate.Obstacles.All(o => o.LossDependent):
                    deferred.Add(new Checked(d, kind.Value)); // decided per train block
                    break;
                case Verdict.CannotProve:
                    diagnostics.Add(DiagnosticCatalog.SymmetryCannotProve(d.Use ?? d.Span, spelled, candidate.Main!.ToString()));
                    result.Add(candidate.ToIR(d.Name, d.Target, declared: true, span: d.Span));
                    break;
            }
        }

        baseHolding = inference.Candidates().Where(c => c.Verdict == Verdict.Holds && c.Target is not null).ToList();
        var rescaled = RescaledSites(baseHolding);
        foreach (var c in baseHolding)
        {
            if (declaredModel.Any(x => SymmetryInference.SameSpace(x.Candidate, c))) continue;
            if (Subsumed(c, rescaled)) continue;
            var spelled = SymmetryInference.Spell(c.Kind, c.Target!);
            if (!CoveredByDeclaredRotation(c) && !InsideOneBlock(c) && warned.Add(spelled)) diagnostics.Add(DiagnosticCatalog.SymmetryNotDeclared(c.Span, spelled));
            result.Add(c.ToIR());
        }
        baseList = result;
        return result;
    }

    /// <summary>
    /// The symmetries of one train block: the model's, plus those its loss decides. Call after <see cref="ResolveModel"/>.
    /// </summary>
    public List<SymmetryIR> ResolveBlock(LossIR? loss, SourceSpan block, List<Diagnostic> diagnostics)
    {
        blocks++;
        var result = new List<SymmetryIR>(baseList);
        if (loss is null) return result;
        var inference = new SymmetryInference(model, LossBinding.Of(loss));
        foreach (var c in deferred)
        {
            var spelled = SymmetryInference.Spell(c.Kind, c.Decl.Target!);
            var (candidate, _) = inference.At(c.Kind, c.Decl.Target!);
            switch (candidate!.Verdict)
            {
                case Verdict.Holds:
                    var ir = candidate.ToIR(c.Decl.Name, c.Decl.Target, declared: true, span: c.Decl.Span);
                    result.Add(ir);
                    if (!lossDependent.Any(s => s.Name == ir.Name)) lossDependent.Add(ir);
                    break;
                case Verdict.DoesNotHold:
                    diagnostics.Add(DiagnosticCatalog.SymmetryDoesNotHoldForBlock(c.Decl.Use ?? c.Decl.Span, spelled, block, candidate.Main!.ToString()));
                    break;
                default:
                    diagnostics.Add(DiagnosticCatalog.SymmetryCannotProve(c.Decl.Use ?? c.Decl.Span, spelled, candidate.Main!.ToString()));
                    result.Add(candidate.ToIR(c.Decl.Name, c.Decl.Target, declared: true, span: c.Decl.Span));
                    break;
            }
        }
        // Inferred ones the loss adds: they hold with this loss but not whatever the loss.
        var holding = inference.Candidates().Where(c => c.Verdict == Verdict.Holds && c.Target is not null).ToList();
        var rescaledHere = RescaledSites(holding);
        foreach (var c in holding)
        {
            if (baseHolding.Any(b => SymmetryInference.SameSpace(b, c))) continue;
            if (declaredModel.Any(x => SymmetryInference.SameSpace(x.Candidate, c))) continue;
            if (Subsumed(c, rescaledHere)) continue;
            var spelled = SymmetryInference.Spell(c.Kind, c.Target!);
            if (!InsideOneBlock(c) && warned.Add(spelled)) diagnostics.Add(DiagnosticCatalog.SymmetryNotDeclared(c.Span, spelled));
            var ir = c.ToIR();
            result.Add(ir);
            if (!lossDependent.Any(s => s.Name == ir.Name)) lossDependent.Add(ir);
        }
        return result;
    }

    /// <summary>
    /// After every train block: the model's list with the loss-dependent symmetries some block established; a warning for
    /// loss-dependent declarations when no train block trains the model.
    /// </summary>
    public List<SymmetryIR> Finish(List<Diagnostic> diagnostics)
    {
        if (blocks == 0)
            foreach (var c in deferred)
                diagnostics.Add(DiagnosticCatalog.SymmetryCannotProve(c.Decl.Use ?? c.Decl.Span, SymmetryInference.Spell(c.Kind, c.Decl.Target!),
                    $"it depends on the loss, and no train block trains '{model.Name}'"));
        var all = new List<SymmetryIR>(baseList);
        foreach (var s in lossDependent) if (!all.Any(x => x.Name == s.Name)) all.Add(s);
        return all;
    }

    void ReportNotATarget(DeclaredSymmetry d, string spelled, string why, List<Diagnostic> diagnostics)
    {
        var isInput = model.Inputs.Any(i => i.Name == d.Target);
        var isLayer = model.Layers.Any(l => l.Name == d.Target);
        if (isInput || isLayer)
            diagnostics.Add(DiagnosticCatalog.SymmetryTarget(d.TargetSpan, $"{spelled}: '{d.Target}' is {(isInput ? "an input" : "a layer")}, not a site; a symmetry acts at a named value such as `h = relu(fc1(x))`"));
        else if (d.Target!.Contains('.') && model.FindLayer(d.Target[..d.Target.LastIndexOf('.')]) is not null)
            diagnostics.Add(DiagnosticCatalog.SymmetryTarget(d.TargetSpan, $"{spelled}: {why}"));
        else if (model.Site(d.Target) is { } node && node.Op != OpKind.Input)
            diagnostics.Add(DiagnosticCatalog.SymmetryTarget(d.TargetSpan, $"{spelled}: {why}"));
        else
            diagnostics.Add(DiagnosticCatalog.UndefinedName(d.TargetSpan, d.Target, Names.Suggest(d.Target, model.Nodes.Where(n => n.Site is not null).Select(n => n.Site!))));
    }

    /// <summary>
    /// A symmetry all of whose sites lie inside one block instance: the block's own check names it (with the block's names),
    /// so the model that uses the block lists it without warning again.
    /// </summary>
    bool InsideOneBlock(SymmetryCandidate c)
    {
        IReadOnlyList<string> names = c.Sites.Count > 0 ? c.Sites : c.Target is { } t ? [t] : [];
        return names.Count > 0 && model.Blocks.Any(b => names.All(n => n.StartsWith(b.Instance + ".", StringComparison.Ordinal)));
    }

    /// <summary>
    /// A scale (one positive factor) where a per-unit rescale holds at the same sites is implied by it: not listed on its own.
    /// </summary>
    static bool Subsumed(SymmetryCandidate c, HashSet<string> rescaledSites)
        => c.Kind == SymmetryKind.Scale && c.Sites.Any(rescaledSites.Contains);

    /// <summary>The sites of every rescale in <paramref name="holding"/> (for <see cref="Subsumed"/>: one set, not a scan per candidate).</summary>
    static HashSet<string> RescaledSites(IReadOnlyList<SymmetryCandidate> holding)
        => holding.Where(r => r.Kind == SymmetryKind.Rescale).SelectMany(r => r.Sites).ToHashSet(StringComparer.Ordinal);

    /// <summary>Permutation, rescale and sign are subgroups of GL: a declared rotation on the same sites covers their warnings.</summary>
    bool CoveredByDeclaredRotation(SymmetryCandidate c)
        => c.Kind is SymmetryKind.Permutation or SymmetryKind.Rescale or SymmetryKind.Sign
        && declaredModel.Any(x => x.Kind == SymmetryKind.Rotation && x.Candidate.Verdict == Verdict.Holds
            && (x.Candidate.Sites.Intersect(c.Sites).Any() || x.Candidate.Target == c.Target));
}
