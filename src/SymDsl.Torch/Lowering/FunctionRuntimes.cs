using SymDsl.IR;
using SymDsl.Vocabulary;
using SymDsl.Torch.Lowering.Layers;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering;

/// <summary>
/// The TorchSharp lowering of each function of the language (<see cref="Functions"/>), by name: one entry per function,
/// beside nothing else. SymModel's activations and the RNN cell both bind through <see cref="Bind"/>.
/// </summary>
public static class FunctionRuntimes
{
    static readonly Dictionary<string, Func<IReadOnlyDictionary<string, Value>, Func<Tensor, Tensor>>> byName = new()
    {
        ["relu"] = _ => x => F.relu(x),
        ["leaky_relu"] = a => { var slope = a["negative_slope"].AsDouble(); return x => F.leaky_relu(x, slope); },
        ["tanh"] = _ => x => x.tanh(),
        ["sigmoid"] = _ => x => x.sigmoid(),
        ["gelu"] = _ => x => F.gelu(x),
        ["sin"] = _ => x => x.sin(),
        ["identity"] = _ => x => x.alias(),
        ["softmax"] = a => { var dim = Functions.BatchedDim(a["dim"].AsInt()); return x => F.softmax(x, dim); },
        ["max_pool"] = a => Pool(a, (x, k) => F.max_pool1d(x, k), (x, k) => F.max_pool2d(x, [k, k])),
        ["avg_pool"] = a => Pool(a, (x, k) => F.avg_pool1d(x, k), (x, k) => F.avg_pool2d(x, [k, k])),
        ["global_avg_pool"] = _ => x => x.flatten(2).mean([-1]),
    };

    /// <summary>A pooling with window and stride k over the positions after the channels: 1d on [batch, C, L], 2d on [batch, C, H, W]
    /// (the node's "dims").</summary>
    static Func<Tensor, Tensor> Pool(IReadOnlyDictionary<string, Value> a, Func<Tensor, long, Tensor> one, Func<Tensor, long, Tensor> two)
    {
        var k = a["k"].AsInt();
        return a["dims"].AsInt() == 1 ? x => one(x, k) : x => two(x, k);
    }

    /// <summary>The functions whose forward pass reads the model's state (its mode, the step's generator): dropout.</summary>
    static readonly Dictionary<string, Func<IReadOnlyDictionary<string, Value>, IFunctionState, Func<Tensor, Tensor>>> withState = new()
    {
        ["dropout"] = (a, state) =>
        {
            var p = a["p"].AsDouble();
            return x =>
            {
                if (state.Mode != ForwardMode.Train || p == 0) return x.alias();
                // The mask comes from the step's generator (the run's own, seeded by (seed, step)), never torch's global one.
                using var keep = rand(x.shape, dtype: x.dtype, generator: state.Generator).to(x.device);
                using var pScalar = p.ToScalar();
                using var mask = keep.ge(pScalar);
                using var scale = (1.0 / (1.0 - p)).ToScalar();
                return x.mul(mask).mul_(scale);
            };
        },
    };

    /// <summary>The names that have a lowering (a test checks they are exactly the functions of the language).</summary>
    public static IEnumerable<string> Implemented => byName.Keys.Concat(withState.Keys);

    /// <summary>
    /// Function <paramref name="name"/> bound with its arguments and the model's <paramref name="state"/> (what SymModel's
    /// activations use); functions that read no state ignore it.
    /// </summary>
    public static Func<Tensor, Tensor> Bind(string name, IReadOnlyDictionary<string, Value> args, IFunctionState state)
        => withState.TryGetValue(name, out var bind) ? bind(args, state) : Bind(name, args);

    /// <summary>
    /// Function <paramref name="name"/> applied with its bound arguments <paramref name="args"/> (a node's attributes, or the
    /// function's defaults), on batched tensors.
    /// </summary>
    public static Func<Tensor, Tensor> Bind(string name, IReadOnlyDictionary<string, Value> args)
        => byName.TryGetValue(name, out var bind) ? bind(args)
         : withState.TryGetValue(name, out var stateful) ? stateful(args, EvalState.Instance)
         : throw new InvalidOperationException($"function {name} has no lowering in FunctionRuntimes");

    /// <summary>No model: evaluation mode (dropout is the identity).</summary>
    sealed class EvalState : IFunctionState
    {
        public static readonly EvalState Instance = new();
        public ForwardMode Mode => ForwardMode.Eval;
        public Generator Generator => throw new InvalidOperationException("no generator outside a model's training step");
    }
}

/// <summary>What a function's forward pass may read of the model: its mode and, in training, the step's generator.</summary>
public interface IFunctionState
{
    ForwardMode Mode { get; }
    /// <summary>The generator of the current training step (<see cref="SymModel.BeginStep"/>), seeded from the run's seed.</summary>
    Generator Generator { get; }
}
