using SymDsl.IR;
using SymDsl.Vocabulary;
using SymDsl.Torch.Lowering;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Symmetry;

/// <summary>One symmetry of a model and the outcome of checking it numerically on the lowered model.</summary>
public sealed record SymmetryVerification(SymmetryIR Symmetry, VerificationResult Result)
{
    public bool Holds => Result.Holds;
}

/// <summary>
/// Numerical verification of every symmetry of a model on its lowered TorchSharp module (docs/diagnostics.md,
/// "Verification"): f(g·θ) = f(θ) for random group elements g, random parameters θ and random inputs, in float64.
/// </summary>
public static class ModelVerification
{
    /// <summary>Examples per random input batch.</summary>
    public const int BatchSize = 8;

    /// <summary>
    /// Lowers <paramref name="model"/> (new <see cref="SymModel"/>, float64), initialises it with the layers' own
    /// initialisation drawn from its own generator seeded with <paramref name="seed"/>, then adds N(0, 0.1²) noise to every parameter so that biases
    /// and LayerNorm affine parameters are non-zero (a missing bias term in an action would otherwise be invisible).
    /// Inputs: per <see cref="InputIR"/>, a batch of <see cref="BatchSize"/> examples; Float32 inputs N(0, 1) in float64,
    /// Int64 inputs uniform integers in [0, vocab) of the Embedding that consumes them (or [0, 2) when no Embedding does).
    /// The forward function concatenates every output, flattened. Each symmetry is checked with
    /// <see cref="SymmetryVerifier.Verify"/> (default comparison per kind: shift-invariant for translation, raw otherwise;
    /// GL for rotation; tolerance 1e-8 relative).
    /// </summary>
    public static IReadOnlyList<SymmetryVerification> VerifyAll(ModelIR model, int trials = 3, int seed = 0) =>
        Verify(model, model.Symmetries, trials, seed);

    /// <summary><see cref="VerifyAll"/> for a chosen list of symmetries (e.g. forged ones in tests).</summary>
    /// <param name="shiftInvariantOutputs">Outputs a shift-invariant loss reads (cross-entropy logits): compared after
    /// subtracting their mean over the last dimension, since the loss cannot see a constant shift of them. Null: none, except
    /// that for a model with no train block every output is compared so for a translation symmetry.</param>
    public static IReadOnlyList<SymmetryVerification> Verify(ModelIR model, IEnumerable<SymmetryIR> symmetries, int trials = 3, int seed = 0,
        double tolerance = 1e-8, IReadOnlySet<string>? shiftInvariantOutputs = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var list = symmetries.ToList();
        var results = new List<SymmetryVerification>();
        if (list.Count == 0) return results;

        using var native = SymDsl.Torch.Runtime.NativeSection.Enter();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var lowered = new SymModel(model, seed: seed);
        lowered.to(ScalarType.Float64);
        // Training mode without side effects: BatchNorm normalises with the batch's statistics (where its symmetries are
        // exact) and leaves its running statistics alone; dropout is off (a random mask is not equivariant sample-wise).
        lowered.SetMode(Lowering.Layers.ForwardMode.Verify);
        using var gen = new Generator((ulong)seed + 1);

        var theta = new Dictionary<string, Tensor>();
        foreach (var (name, value) in lowered.EffectiveParameters())
            theta[name] = (value.detach() + randn(value.shape, ScalarType.Float64, generator: gen) * 0.1).clone();
        var inputs = RandomInputs(model, gen);

        Tensor Forward(IReadOnlyDictionary<string, Tensor> parameters, Func<string, bool> centred)
        {
            lowered.SetEffectiveParameters(parameters);
            var outs = lowered.Forward(inputs);
            return cat(model.Outputs.Select(o =>
            {
                var y = outs[o.Name].to(ScalarType.Float64);
                if (centred(o.Name)) y = y - y.mean(new long[] { -1 }, keepdim: true);
                return y.reshape(BatchSize, -1);
            }).ToList(), 1);
        }

        foreach (var sym in list)
        {
            Func<string, bool> centred = shiftInvariantOutputs is not null ? shiftInvariantOutputs.Contains
                : sym.Kind == SymmetryKind.Translation ? _ => true : _ => false;
            var r = SymmetryVerifier.Verify(sym, p => Forward(p, centred), theta, trials, seed: seed * 7919 + 17, tolerance: tolerance,
                comparison: OutputComparison.Raw);
            results.Add(new SymmetryVerification(sym, r));
        }
        return results;
    }

    /// <summary>
    /// <see cref="Verify"/> for the symmetries of one train block: the model with the block's symmetries, the outputs its loss
    /// reads shift-invariantly when the loss is (cross-entropy).
    /// </summary>
    public static IReadOnlyList<SymmetryVerification> VerifyBlock(ProgramIR program, TrainIR train, IEnumerable<SymmetryIR> symmetries, int trials = 3,
        int seed = 0, double tolerance = 1e-8)
    {
        var model = program.ModelFor(train);
        var shiftInvariant = Vocabulary.Losses.Get(train.Loss.Kind).ShiftInvariant ? new HashSet<string> { train.Loss.Output } : new HashSet<string>();
        return Verify(model, symmetries, trials, seed, tolerance, shiftInvariant);
    }

    /// <summary>Random inputs for every model input (see <see cref="VerifyAll"/>), batch <see cref="BatchSize"/>.</summary>
    public static Dictionary<string, Tensor> RandomInputs(ModelIR model, Generator gen, int batch = BatchSize)
    {
        var inputs = new Dictionary<string, Tensor>();
        foreach (var input in model.Inputs)
        {
            var shape = new long[] { batch }.Concat(input.Shape.Select(d => (long)d)).ToArray();
            if (input.Type == ElementType.Float32)
                inputs[input.Name] = randn(shape, ScalarType.Float64, generator: gen);
            else
                inputs[input.Name] = randint(0, VocabularyOf(model, input.Name), shape, ScalarType.Int64, generator: gen);
        }
        return inputs;
    }

    /// <summary>The smallest vocabulary of the layers that read input <paramref name="inputName"/> as token ids (Embedding; 2 when there is none).</summary>
    public static long VocabularyOf(ModelIR model, string inputName)
    {
        var inputNode = model.Nodes.FirstOrDefault(n => n.Op == OpKind.Input && n.Attr("name") == inputName);
        if (inputNode is null) return 2;
        var vocab = model.Nodes
            .Where(n => n.Op == OpKind.Layer && n.Inputs.Contains(inputNode.Id))
            .Select(n => model.Layer(n.Attr("layer")))
            .Select(l => LayerDefinition.Of(l.Kind).TokenVocabulary(l))
            .OfType<long>()
            .DefaultIfEmpty(2)
            .Min();
        return Math.Max(1, vocab);
    }
}
