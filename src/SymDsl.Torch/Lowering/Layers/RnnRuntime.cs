using SymDsl.Vocabulary;
using SymDsl.Diagnostics;
using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SymDsl.Torch.Lowering.Layers;

/// <summary>
/// The RNN cell as one step of an ODE integrator per time step for dh/dt = f(h) = -h + act(W_h h + W_x x_t + b),
/// h_0 = 0, x_t held constant within the step. euler: h + dt f(h); rk2: the explicit midpoint rule
/// h + dt f(h + dt/2 f(h)); rk4: the classical Runge–Kutta step. Output: every h_t, [B, T, hidden].
/// </summary>
public sealed class RnnRuntime : LayerRuntime
{
    public override LayerKind Kind => LayerKind.RNN;

    public override Func<Tensor, Tensor> Bind(LayerIR layer, Func<string, IParameterSlot> slot)
    {
        var (inputWeight, hiddenWeight, biasSlot) = (slot("input.weight"), slot("hidden.weight"), slot("bias"));
        var act = layer.Args.Text("activation", "tanh");
        var activate = FunctionRuntimes.Bind(act, Functions.Get(act).Defaults);
        var integrator = layer.Args.Text("integrator", "euler");
        var dt = layer.Args.Double("dt", 1.0);
        return x =>
        {
            var wx = inputWeight.Required();
            var wh = hiddenWeight.Required();
            var bias = biasSlot.Optional();
            long bsz = x.shape[0], steps = x.shape[1], hidden = wh.shape[0];
            var drive = F.linear(x, wx, bias); // [B, T, hidden]: W_x x_t + b for every t at once
            var h = zeros(bsz, hidden, dtype: drive.dtype, device: drive.device);
            var outs = new List<Tensor>((int)steps);
            for (long t = 0; t < steps; t++)
            {
                var u = drive.select(1, t);
                Tensor Fn(Tensor hh) => activate(hh.matmul(wh.t()) + u) - hh;
                h = integrator switch
                {
                    "euler" => h + Fn(h) * dt,
                    "rk2" => h + Fn(h + Fn(h) * (dt / 2)) * dt,
                    "rk4" => Rk4(h, Fn, dt),
                    _ => throw new SymDslException($"layer {layer.Name}: unknown integrator {integrator} (euler, rk2, rk4)"),
                };
                outs.Add(h);
            }
            return stack(outs, 1);
        };
    }

    static Tensor Rk4(Tensor h, Func<Tensor, Tensor> f, double dt)
    {
        var k1 = f(h);
        var k2 = f(h + k1 * (dt / 2));
        var k3 = f(h + k2 * (dt / 2));
        var k4 = f(h + k3 * dt);
        return h + (k1 + k2 * 2 + k3 * 2 + k4) * (dt / 6);
    }

    /// <summary>U(±1/√hidden) for every parameter (as nn.RNN).</summary>
    public override void DefaultInit(LayerIR layer, string local, Tensor t, Generator gen)
        => SymModel.Uniform(t, -Bound(layer.Args.Int("hidden", 1)), Bound(layer.Args.Int("hidden", 1)), gen);
}
