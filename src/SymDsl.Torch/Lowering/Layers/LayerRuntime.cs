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
/// What a model's forward pass computes (docs/language.md, "Modes"): <see cref="Train"/> for training steps (BatchNorm
/// normalises with the batch's statistics and updates its running statistics; dropout draws masks from the run's
/// generator), <see cref="Eval"/> for evaluation, metrics and the final weights (BatchNorm uses its running statistics;
/// dropout is the identity), <see cref="Verify"/> for <c>check --verify</c> (BatchNorm uses the batch's statistics and
/// leaves its running statistics alone; dropout is the identity).
/// </summary>
public enum ForwardMode { Train, Eval, Verify }

/// <summary>What a layer's forward pass may read besides its parameters: the model's mode and the layer's buffers.</summary>
public interface ILayerState
{
    ForwardMode Mode { get; }
    /// <summary>Buffer "{layer}.{<paramref name="local"/>}" (declared by <see cref="LayerRuntime.Buffers"/>), live: updates stick.</summary>
    Tensor Buffer(string local);
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

    /// <summary>
    /// <see cref="Bind(LayerIR, Func{string, IParameterSlot})"/> for a layer whose forward pass depends on the model's mode or
    /// reads buffers (BatchNorm); <see cref="SymModel"/> calls this one. By default the mode is ignored.
    /// </summary>
    public virtual Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot, ILayerState state) => Bind(layer, slot);

    /// <summary>
    /// The layer's buffers: state that is not trained but saved with the model (checkpoints, weights.dat) under
    /// "{layer}.{local}", with its initial value (float buffers follow the model's dtype). None by default.
    /// </summary>
    public virtual IReadOnlyList<(string Local, Func<Tensor> Initial)> Buffers(LayerIR layer) => [];

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
