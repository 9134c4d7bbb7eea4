using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary>
/// <c>BatchNorm(n, eps, momentum, affine)</c> over [B, C], [B, C, L] or [B, C, H, W] (channels on axis 1 of the batch):
/// in <see cref="ForwardMode.Train"/> the batch's statistics, with running_mean and running_var moved towards them by
/// momentum (the unbiased variance, as PyTorch) and num_batches_tracked counted; in <see cref="ForwardMode.Eval"/> the
/// running statistics; in <see cref="ForwardMode.Verify"/> the batch's statistics, buffers untouched.
/// </summary>
public sealed class BatchNormRuntime : LayerRuntime
{
    public override LayerKind Kind => Vocabulary.Layers.BatchNorm.Id;

    public override IReadOnlyList<(string Local, Func<Tensor> Initial)> Buffers(LayerIR layer)
    {
        var n = layer.Args.Int("n", 1);
        return
        [
            ("running_mean", () => zeros(n)),
            ("running_var", () => ones(n)),
            ("num_batches_tracked", () => zeros([], ScalarType.Int64)),
        ];
    }

    /// <summary>Without the model's state: the batch's statistics, no buffers (as <see cref="ForwardMode.Verify"/>).</summary>
    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot) => Forward(layer, slot, null);

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot, ILayerState state) => Forward(layer, slot, state);

    static Func<Tensor, Tensor> Forward(LayerIR layer, Func<string, IParameterSlot> slot, ILayerState? state)
    {
        var w = slot("weight");
        var b = slot("bias");
        var eps = layer.Args.Double("eps", 1e-5);
        var momentum = layer.Args.Double("momentum", 0.1);
        return x =>
        {
            var mode = state?.Mode ?? ForwardMode.Verify;
            if (mode == ForwardMode.Eval)
                return F.batch_norm(x, state!.Buffer("running_mean"), state.Buffer("running_var"), w.Optional(), b.Optional(), training: false, momentum, eps);
            if (x.numel() / Math.Max(1, x.shape[1]) <= 1)
                throw new SymDslException($"BatchNorm '{layer.Name}' needs more than one value per channel to take batch statistics, "
                    + $"but got a batch of shape [{string.Join(", ", x.shape)}]; use a batch size of at least 2 (and a training set whose size is not 1 more than a multiple of it)");
            if (mode == ForwardMode.Verify)
                return F.batch_norm(x, null, null, w.Optional(), b.Optional(), training: true, momentum, eps);
            var y = F.batch_norm(x, state!.Buffer("running_mean"), state.Buffer("running_var"), w.Optional(), b.Optional(), training: true, momentum, eps);
            using (no_grad()) state.Buffer("num_batches_tracked").add_(Scalars.IntOne);
            return y;
        };
    }

    /// <summary>weight 1, bias 0 (as nn.BatchNorm1d).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen)
    {
        if (local == "weight") t.fill_(Scalars.One); else t.zero_();
    }
}
