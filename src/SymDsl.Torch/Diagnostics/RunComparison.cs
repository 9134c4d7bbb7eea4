using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Measures;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Diagnostics;

/// <summary>Linear CKA between two models' representations at one site, on the same probe inputs.</summary>
public sealed record SiteSimilarity(string Site, double Cka);

/// <summary>
/// Representation similarity across runs (science.md: linear CKA; the universal-alignment claim): the same model trained
/// twice (e.g. two seeds) is compared site by site on the same inputs (docs/diagnostics.md, "Comparing runs").
/// </summary>
public static class RunComparison
{
    /// <summary>
    /// Per named site of <paramref name="model"/> (every non-input node with a name, in graph order, outputs included):
    /// linear CKA between run A's and run B's representations of <paramref name="probeInputs"/> (one tensor per model
    /// input, batch first), each run restored from RUN/checkpoint.bin (the last checkpoint the trainer wrote).
    /// <paramref name="train"/> gives the reparametrisations (syre, induce) the runs were trained with, so the
    /// checkpoints' raw tensors load; null = none. Representations are flattened per example; CKA centres them.
    /// </summary>
    public static IReadOnlyList<SiteSimilarity> Compare(ModelIR model, string runDirA, string runDirB,
        IReadOnlyDictionary<string, Tensor> probeInputs, TrainIR? train = null)
    {
        using var a = Load(model, runDirA, train);
        using var b = Load(model, runDirB, train);
        return Compare(a, b, probeInputs);
    }

    /// <summary>
    /// The random-initialisation baseline: <see cref="Compare(ModelIR, string, string, IReadOnlyDictionary{string, Tensor}, TrainIR?)"/>
    /// between the model initialised as the trainer does with seed <paramref name="seedA"/> and with seed <paramref name="seedB"/>.
    /// torch's global generator is not used.
    /// </summary>
    public static IReadOnlyList<SiteSimilarity> CompareInitial(ModelIR model, long seedA, long seedB,
        IReadOnlyDictionary<string, Tensor> probeInputs, TrainIR? train = null)
    {
        using var a = Initial(model, seedA, train);
        using var b = Initial(model, seedB, train);
        return Compare(a, b, probeInputs);
    }

    /// <summary>Per-site CKA between two lowered models of the same IR (evaluated in float64 copies of their outputs).</summary>
    public static IReadOnlyList<SiteSimilarity> Compare(SymModel a, SymModel b, IReadOnlyDictionary<string, Tensor> probeInputs)
    {
        var sites = Sites(a.IR);
        using var native = SymDsl.Torch.Runtime.NativeSection.Enter();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var set = sites.ToHashSet();
        var ca = new Dictionary<string, Tensor>();
        var cb = new Dictionary<string, Tensor>();
        a.Forward(probeInputs, set, ca);
        b.Forward(probeInputs, set, cb);
        return sites.Where(s => ca.ContainsKey(s) && cb.ContainsKey(s))
            .Select(s => new SiteSimilarity(s, Cka.Linear(Flat(ca[s]), Flat(cb[s]))))
            .ToList();
    }

    /// <summary>Named sites (non-input, floating point), each once, in graph order of their last definition.</summary>
    public static IReadOnlyList<string> Sites(ModelIR model) =>
        model.Nodes.Where(n => n.Site is not null && n.Op != OpKind.Input && n.Type == ElementType.Float32 && model.Site(n.Site)!.Id == n.Id)
            .Select(n => n.Site!).ToList();

    static Tensor Flat(Tensor t) => t.detach().to(ScalarType.Float64).reshape(t.shape[0], -1);

    /// <summary>
    /// The model of <paramref name="runDir"/>'s checkpoint (RUN/checkpoint.bin, <see cref="Checkpoint"/>), lowered with the
    /// train block's reparametrisations, in float64 (or <paramref name="dtype"/>: float32 evaluates it as the trainer did),
    /// eval mode. No random generator is used beyond the model's own (its initial values are replaced by the checkpoint's).
    /// </summary>
    public static SymModel Load(ModelIR model, string runDir, TrainIR? train = null, ScalarType dtype = ScalarType.Float64)
    {
        var path = Path.Combine(runDir, Checkpoint.FileName);
        if (!File.Exists(path)) throw new SymDslException($"{runDir} holds no checkpoint ({Checkpoint.FileName}); train it first");
        var m = new SymModel(model, train is null ? null : Trainer.Reparametrisations(train));
        try
        {
            Checkpoint.Load(path, m, null);
            m.to(dtype);
            m.eval();
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    /// <summary>The model as the trainer initialises it for <paramref name="seed"/> (SymModel's own generator), in float64.</summary>
    public static SymModel Initial(ModelIR model, long seed, TrainIR? train = null)
    {
        var m = new SymModel(model, train is null ? null : Trainer.Reparametrisations(train), seed);
        m.to(ScalarType.Float64);
        m.eval();
        return m;
    }
}
