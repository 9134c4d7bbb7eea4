using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary>A parameter a layer reads at run time: the module's effective value, or a functional override of it.</summary>
public interface IParameterSlot
{
    /// <summary>The value; a clear error when the layer has no such parameter.</summary>
    Tensor Required();
    /// <summary>The value, or null when the layer has no such parameter (no bias).</summary>
    Tensor? Optional();
}

/// <summary>
/// One layer kind's TorchSharp lowering, beside its definition (SymDsl.Core/Vocabulary/Layers): how it reads its parameters,
/// its forward pass, and TorchSharp's default initialisation of its parameters. One subclass per kind in this folder,
/// found by reflection (<see cref="Of"/>); <see cref="SymModel"/> has no per-kind code.
/// </summary>
public abstract class LayerRuntime
{
    public abstract LayerKind Kind { get; }

    /// <summary>
    /// Binds the layer once, when the evaluation plan is built: reads its arguments and takes the slots of the parameters
    /// it uses (<paramref name="slot"/>("weight") is "{layer}.weight"); returns its forward pass on a batch
    /// ([batch, ..per-example input shape] → [batch, ..output shape]).
    /// </summary>
    public abstract Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot);

    /// <summary>Fills <paramref name="t"/>, parameter "{layer}.{<paramref name="local"/>}", with TorchSharp's own default
    /// initialisation for the kind, drawing from <paramref name="gen"/> only.</summary>
    public abstract void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen);

    /// <summary>The bound 1/√fan_in of TorchSharp's default uniform initialisation (fan_in at least 1).</summary>
    protected static double Bound(long fanIn) => 1.0 / Math.Sqrt(Math.Max(1, fanIn));

    static readonly Dictionary<LayerKind, LayerRuntime> byKind = typeof(LayerRuntime).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(LayerRuntime)) && !t.IsAbstract)
        .Select(t => (LayerRuntime)Activator.CreateInstance(t)!)
        .ToDictionary(r => r.Kind);

    /// <summary>Every runtime module.</summary>
    public static IEnumerable<LayerRuntime> All => byKind.Values.OrderBy(r => r.Kind);

    /// <summary>The runtime module of <paramref name="kind"/> (every kind has one: a test checks it).</summary>
    public static LayerRuntime Of(LayerKind kind)
        => byKind.TryGetValue(kind, out var r) ? r : throw new InvalidOperationException($"layer kind {kind} has no runtime module in SymDsl.Torch/Lowering/Layers");
}
