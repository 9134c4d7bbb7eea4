using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Measures;

/// <summary>
/// The diagnostic of scale symmetry (a weight feeding a normalisation): its norm. Under gradient flow ⟨θ, ∇ℓ⟩ = 0, so ‖θ‖
/// is conserved; with weight decay it shrinks, and the effective learning rate lr/‖θ‖² grows (science.md).
/// </summary>
public static class Norm
{
    /// <summary>‖W‖_F = sqrt(Σ w²) over all entries.</summary>
    public static double Frobenius(Tensor w)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var x = TensorMath.F64(w);
        return Math.Sqrt((x * x).sum().item<double>());
    }

    /// <summary>Frobenius norm over several tensors together: sqrt(Σ_t ‖t‖_F²) (a scale symmetry may act on weight and bias).</summary>
    public static double Frobenius(IEnumerable<Tensor> tensors) => Math.Sqrt(tensors.Sum(t => { var f = Frobenius(t); return f * f; }));

    /// <summary>The effective learning rate of a scale-invariant weight: lr / ‖θ‖².</summary>
    public static double EffectiveLearningRate(double lr, Tensor w)
    {
        var n = Frobenius(w);
        return n > 0 ? lr / (n * n) : double.PositiveInfinity;
    }
}

/// <summary>
/// The diagnostic of translation symmetry (logits feeding softmax / cross-entropy): the mean of the logit bias. The
/// gradient sums to zero along 1, so under gradient flow Σ b_i, hence the mean, is conserved (science.md).
/// </summary>
public static class Drift
{
    /// <summary>mean_i b_i.</summary>
    public static double MeanBias(Tensor bias)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        return TensorMath.F64(bias).mean().item<double>();
    }
}
