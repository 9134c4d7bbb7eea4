using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Measures;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Examples.Tests;

/// <summary>One measurement of <see cref="UnitBalanceProbe"/> at <paramref name="Step"/> (t = lr·step).</summary>
/// <param name="Unit">The per-unit imbalance mean_i |ln r_i| (finite positive r_i only).</param>
/// <param name="MeanLog">|mean_i ln r_i| (the README's earlier measure, the `balance` metric's |.log_ratio|).</param>
/// <param name="Q">mean_i |Q_i|, Q_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖².</param>
/// <param name="Loss">The loss on the whole training split.</param>
/// <param name="Entropic">The entropic term's predicted decay speed of <paramref name="Unit"/> per unit of lr·steps and per unit
/// of lr, from the full-batch gradient: e = mean_i 2|g_in,i² − g_out,i²| / P_i (P_i = ‖w_in,i‖² + b_i² + ‖w_out,i‖²); a GD
/// step moves ln r_i by −2 lr² (g_in,i² − g_out,i²) / P_i along the orbit (to first order), so dUnit/dt ∋ −lr·e.</param>
/// <param name="OrbitShift">Σ over the steps so far of the orbit motion's change of |ln r_i| (mean over units), from each
/// step's own (minibatch) gradients: Σ_steps mean_i −sign(ln r_i)·2 lr² (g_in,i² − g_out,i²) / P_i (first order).</param>
internal sealed record UnitBalancePoint(long Step, double Unit, double MeanLog, double Q, double Loss, double Entropic, double OrbitShift);

/// <summary>
/// The per-unit gradient imbalance on a rescale orbit, measured from the full training split's gradient (the gradient a
/// full-batch GD step takes) without touching the parameters' .grad (autograd.grad); and the orbit motion each step makes
/// (<see cref="AfterBackward"/>, from the step's own gradients in .grad). For examples/gradient-balance's continuation
/// experiment. Kept in the example's test code on purpose: src/SymDsl.Torch/Diagnostics is being rewritten, and this is the
/// example's measurement, not a project metric.
/// </summary>
internal sealed class UnitBalanceProbe(SymModel model, SymmetryIR sym, Func<Tensor> fullLoss)
{
    public List<UnitBalancePoint> Series { get; } = new();
    double _orbitShift;

    /// <summary>After a step's backward pass, before its update: the first-order change of mean_i |ln r_i| the update's orbit motion makes.</summary>
    public void AfterBackward(double lr)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var raw = model.EffectiveParameters();
        var grads = raw.ToDictionary(kv => kv.Key, kv => kv.Value.grad!.detach());
        var weights = raw.ToDictionary(kv => kv.Key, kv => kv.Value.detach());
        var (gIn, gOut) = UnitNorms.FromSymmetry(sym, grads);
        var (wIn, wOut) = UnitNorms.FromSymmetry(sym, weights);
        double sum = 0;
        int n = 0;
        for (var i = 0; i < gIn.Length; i++)
        {
            if (!(gIn[i] > 0 && gOut[i] > 0)) continue;
            var sign = Math.Sign(Math.Log(gIn[i] / gOut[i]));
            sum += -sign * 2 * lr * lr * (gIn[i] - gOut[i]) / (wIn[i] + wOut[i]);
            n++;
        }
        if (n > 0) _orbitShift += sum / n;
    }

    public void Measure(long step)
    {
        using var enable = enable_grad();
        using var scope = NewDisposeScope();
        var effective = model.EffectiveParameters();
        var names = effective.Keys.ToList();
        var loss = fullLoss();
        var g = torch.autograd.grad([loss], [.. names.Select(n => effective[n])]);
        var grads = names.Select((n, i) => (n, g[i])).ToDictionary(x => x.n, x => x.Item2);
        var ratio = Balance.GradientRatio(sym, grads);
        var logs = ratio.Ratios.Where(r => r > 0 && double.IsFinite(r)).Select(r => Math.Log(r)).ToArray();
        var (gIn, gOut) = UnitNorms.FromSymmetry(sym, grads);
        var (wIn, wOut) = UnitNorms.FromSymmetry(sym, effective.ToDictionary(kv => kv.Key, kv => kv.Value.detach()));
        var entropic = Enumerable.Range(0, gIn.Length).Where(i => gIn[i] > 0 && gOut[i] > 0)
            .Select(i => 2 * Math.Abs(gIn[i] - gOut[i]) / (wIn[i] + wOut[i])).DefaultIfEmpty(double.NaN).Average();
        Series.Add(new UnitBalancePoint(step,
            logs.Length > 0 ? logs.Average(Math.Abs) : double.NaN,
            logs.Length > 0 ? Math.Abs(logs.Average()) : double.NaN,
            wIn.Zip(wOut, (a, b) => Math.Abs(a - b)).Average(),
            loss.to_type(ScalarType.Float64).item<double>(),
            entropic, _orbitShift));
    }
}
