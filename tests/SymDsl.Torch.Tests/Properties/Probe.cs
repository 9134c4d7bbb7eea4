using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Symmetry;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Properties;

/// <summary>
/// A model lowered once in float64 with fixed random parameters θ and a fixed random input batch (as
/// <see cref="ModelVerification"/> draws them: the layers' own initialisation plus N(0, 0.1²) noise, so biases and
/// LayerNorm gains are generic), on which any parameter action can be tried: <see cref="Error"/> gives the largest
/// relative change of any output under random non-degenerate group elements.
/// </summary>
public sealed class Probe : IDisposable
{
    readonly ModelIR model;
    readonly SymModel lowered;
    readonly DisposeScope scope;
    readonly Dictionary<string, Tensor> theta = [];
    readonly Dictionary<string, Tensor> inputs;
    readonly Dictionary<string, Tensor> y0 = [];

    public Probe(ModelIR model, int seed)
    {
        this.model = model;
        using var native = SymDsl.Torch.Runtime.NativeSection.Enter();
        scope = NewDisposeScope();
        lowered = new SymModel(model, seed: seed);
        lowered.to(ScalarType.Float64);
        lowered.eval();
        using var gen = new Generator((ulong)seed + 1);
        using (no_grad())
        {
            foreach (var (name, value) in lowered.EffectiveParameters())
                theta[name] = (value.detach() + randn(value.shape, ScalarType.Float64, generator: gen) * 0.1).clone();
            inputs = ModelVerification.RandomInputs(model, gen, Batch);
            foreach (var (name, y) in Run(theta)) y0[name] = y;
        }
    }

    /// <summary>Examples in the probe batch (more than ModelVerification's 8, so that a relu is rarely dead on all of them).</summary>
    public const int Batch = 16;

    public IReadOnlyDictionary<string, Tensor> Parameters => theta;

    /// <summary>
    /// The probe cannot judge this model: some output is 0 on every probe example (relu(h)² with h &lt; 0 throughout: a
    /// change is invisible, an action "verifies" vacuously), or not finite (a LayerNorm with eps = 0 of an all-zero vector,
    /// e.g. of relu(x) when every x is negative, is 0/0 in the model as written).
    /// </summary>
    public bool Unjudgeable => y0.Values.Any(y => y.abs().max().item<double>() == 0 || !y.isfinite().all().item<bool>());

    Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> parameters)
    {
        var outs = lowered.Forward(inputs, parameters: parameters);
        return model.Outputs.ToDictionary(o => o.Name, o => outs[o.Name].to(ScalarType.Float64).detach());
    }

    /// <summary>
    /// The largest relative output change max_o max|y_o(g·θ) − y_o(θ)| / max|y_o(θ)| over up to <paramref name="trials"/>
    /// random elements g of the group of <paramref name="sym"/> (never the identity; a sign element with more than one
    /// unit has mixed signs, a permutation moves something). Outputs in <paramref name="shiftInvariant"/> (those a
    /// cross-entropy loss reads) are compared up to a constant shift along their last axis. Stops early once the change
    /// exceeds <paramref name="stopAbove"/>.
    /// </summary>
    public double Error(SymmetryIR sym, int trials, Random rng, ISet<string> shiftInvariant, double stopAbove = double.PositiveInfinity)
    {
        double worst = 0;
        // TorchSharp 0.107 scalars can be finalized under a running libtorch call when a GC runs (see NativeSection):
        // with two models checked at once that gave "toDouble" exceptions and NaN outputs. No GC inside a check.
        using var native = SymDsl.Torch.Runtime.NativeSection.Enter();
        using var _ = no_grad();
        for (int t = 0; t < trials && worst <= stopAbove; t++)
        {
            using var trial = NewDisposeScope();
            var g = Element(sym, rng);
            var p = GroupActions.Apply(sym, g, theta);
            foreach (var (name, y1) in Run(p))
            {
                var y = y1;
                var reference = y0[name];
                if (shiftInvariant.Contains(name))
                {
                    y = y - y.mean([-1L], keepdim: true);
                    reference = reference - reference.mean([-1L], keepdim: true);
                }
                var denom = Math.Max(reference.abs().max().item<double>(), 1e-300);
                var e = (y - reference).abs().max().item<double>() / denom;
                if (double.IsNaN(e)) e = double.PositiveInfinity;
                worst = Math.Max(worst, e);
            }
        }
        return worst;
    }

    static GroupElement Element(SymmetryIR sym, Random rng)
    {
        for (int attempt = 0; ; attempt++)
        {
            var g = GroupActions.Sample(sym, rng);
            if (attempt >= 100 || !Degenerate(g)) return g;
        }
    }

    /// <summary>An element that would make a non-symmetry look like one: the identity, or a global sign flip (odd maps and
    /// LayerNorm commute with it) when per-unit flips exist.</summary>
    static bool Degenerate(GroupElement g) => g.Kind switch
    {
        SymmetryKind.Permutation => g.Permutations!.All(p => p.Select((v, i) => v == i).All(b => b)),
        SymmetryKind.Sign => g.Dim * g.Blocks > 1
            ? g.Signs!.SelectMany(s => s).Distinct().Count() < 2
            : g.Signs!.All(s => s.All(v => v > 0)),
        _ => false,
    };

    public void Dispose()
    {
        lowered.Dispose();
        scope.Dispose();
    }
}
