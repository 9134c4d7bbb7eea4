using SymDsl.Diagnostics;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Vocabulary.Layers;

/// <summary>
/// <c>RNN(in, hidden, activation, integrator, dt, bias)</c>: one integrator step per input of
/// dh/dt = −h + act(hidden.weight h + input.weight x_t + bias), h₀ = 0; input.weight [hidden, in], hidden.weight [hidden, hidden].
/// </summary>
public sealed class Rnn : LayerDefinition
{
    public override LayerKind Kind => LayerKind.RNN;
    public override int InputUnits(LayerIR layer) => (int)layer.Args["in"].AsInt();
    public override int OutputUnits(LayerIR layer) => (int)layer.Args["hidden"].AsInt();

    /// <summary>The activations an RNN cell may apply: the elementwise functions without arguments.</summary>
    static readonly string[] Activations = Functions.All
        .Where(f => f.Has(FunctionProperties.Elementwise) && f.Arguments.Count == 0).Select(f => f.Name).ToArray();

    public override IReadOnlyList<ArgSpec> Signature { get; } =
        [Size("in"), Size("hidden"),
         new("activation", ArgType.Name, new Value.Name("tanh"), false, Activations),
         new("integrator", ArgType.Name, new Value.Name("euler"), false, ["euler", "rk2", "rk4"]),
         new("dt", ArgType.Float, new Value.Float(1.0), Range: Domain.Positive), new("bias", ArgType.Bool, True), InitArg];

    public override IReadOnlyList<int>? OutputShape(LayerApplication a)
        => a.NeedFloat() && a.Rank(2, "[T, in]") && a.Last("in") ? [a.Shape[0], a.Int("hidden")] : null;

    public override void Parameters(ParameterList p)
    {
        p.Weight("input.weight", p.Int("hidden"), p.Int("in"));
        p.Weight("hidden.weight", p.Int("hidden"), p.Int("hidden"));
        if (p.Bool("bias")) p.Bias("bias", p.Int("hidden"));
    }

    // ---------------------------------------------------------------- C# emission: one nested class per RNN layer

    const string ClassPrefix = "OdeRnn_";
    public override string? CSharpReservedPrefix => ClassPrefix;
    public override string CSharpFieldType(LayerIR layer, CSharpLayerContext c) => ClassPrefix + c.Field(layer).TrimStart('@');

    public override string CSharpConstruct(LayerIR l, CSharpLayerContext c)
    {
        var init = l.Parameters.Count > 0 ? l.Parameters[0].Init : InitSpec.Default;
        return $"new {CSharpFieldType(l, c)}(\"{CSharpLayerContext.Escape(l.Name)}\", {c.Arg(l, "in")}, {c.Arg(l, "hidden")}, dt: {c.Arg(l, "dt")}{(init.Kind == "default" ? "" : $", initWeight: w => {CSharpLayerContext.InitCall("w", init)}")})";
    }

    public override void CSharpHelperClasses(IReadOnlyList<LayerIR> layers, CSharpLayerContext c)
    {
        foreach (var l in layers) { c.Line(); RnnClass(c, l, CSharpFieldType(l, c)); }
    }

    static void RnnClass(CSharpLayerContext w, LayerIR l, string name)
    {
        var act = l.Args.Text("activation", "tanh");
        var integrator = l.Args.Text("integrator", "euler");
        var bias = l.Args.Bool("bias", true);
        var cell = Functions.Get(act);
        var actExpr = cell.CSharp("z", cell.Defaults);
        w.Line($"/// <summary>RNN '{CSharpLayerContext.Xml(l.Name)}' read as an ODE: dh/dt = -h + {act}(hidden.weight h + input.weight x_t{(bias ? " + bias" : "")}), one {integrator} step of size dt per element, h_0 = 0. [batch, T, in] → [batch, T, hidden].</summary>");
        w.Line($"private sealed class {name} : nn.Module<Tensor, Tensor>");
        w.Open();
        w.Line("private readonly Linear input;");
        w.Line("private readonly Linear hidden;");
        if (bias) w.Line("private readonly Parameter bias;");
        w.Line("private readonly long hiddenSize;");
        w.Line("private readonly double dt;");
        w.Line();
        w.Line($"public {name}(string name, long inSize, long hiddenSize, double dt = 1.0, Action<Tensor>? initWeight = null)");
        w.Line("    : base(name)");
        w.Open();
        w.Line("this.hiddenSize = hiddenSize;");
        w.Line("this.dt = dt;");
        w.Line("input = nn.Linear(inSize, hiddenSize, hasBias: false);");
        w.Line("hidden = nn.Linear(hiddenSize, hiddenSize, hasBias: false);");
        if (bias)
        {
            w.Line("var bound = 1.0 / Math.Sqrt(hiddenSize);");
            w.Line("bias = new Parameter(torch.empty(hiddenSize).uniform_(-bound, bound));");
        }
        w.Line("if (initWeight is not null)");
        w.Line("    using (torch.no_grad())");
        w.Line("    {");
        w.Line("        initWeight(input.weight!);");
        w.Line("        initWeight(hidden.weight!);");
        w.Line("    }");
        w.Line("RegisterComponents();");
        w.Close();
        w.Line();
        w.Line("private Tensor F(Tensor h, Tensor u)");
        w.Open();
        w.Line($"var z = hidden.forward(h) + u{(bias ? " + bias" : "")};");
        w.Line($"return -h + {actExpr};");
        w.Close();
        w.Line();
        w.Line("public override Tensor forward(Tensor x)");
        w.Open();
        w.Line("var u = input.forward(x); // [b, T, hidden]");
        w.Line("var h = torch.zeros(x.shape[0], hiddenSize, dtype: x.dtype, device: x.device);");
        w.Line("var steps = new List<Tensor>();");
        w.Line("for (long t = 0; t < x.shape[1]; t++)");
        w.Open();
        w.Line("var ut = u.select(1, t);");
        switch (integrator)
        {
            case "rk2":
                w.Line("var k1 = F(h, ut);");
                w.Line("var k2 = F(h + (dt / 2) * k1, ut);");
                w.Line("h = h + dt * k2;");
                break;
            case "rk4":
                w.Line("var k1 = F(h, ut);");
                w.Line("var k2 = F(h + (dt / 2) * k1, ut);");
                w.Line("var k3 = F(h + (dt / 2) * k2, ut);");
                w.Line("var k4 = F(h + dt * k3, ut);");
                w.Line("h = h + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4);");
                break;
            case "euler":
                w.Line("h = h + dt * F(h, ut);");
                break;
            default: throw new InvalidOperationException($"unknown integrator {integrator}");
        }
        w.Line("steps.Add(h);");
        w.Close();
        w.Line("return torch.stack(steps, 1);");
        w.Close();
        w.Close();
    }

    // ---------------------------------------------------------------- Python emission: one OdeRnn module per file

    public override IReadOnlyList<string> PythonReservedNames => ["OdeRnn"];

    public override string PythonConstruct(LayerIR l, PythonLayerContext c)
    {
        var act = Functions.Get(l.Args.Text("activation", "tanh"));
        return $"OdeRnn({c.Arg(l, "in")}, {c.Arg(l, "hidden")}, activation=lambda z: {act.Python("z", act.Defaults)}, "
             + $"integrator={c.Arg(l, "integrator")}, dt={c.Arg(l, "dt")}, bias={c.Arg(l, "bias")})";
    }

    public override void PythonHelperModules(PythonLayerContext w)
    {
        foreach (var line in """"


            class OdeRnn(nn.Module):
                """An RNN read as an ODE: dh/dt = -h + activation(hidden.weight h + input.weight x_t + bias), one integrator
                step (euler, rk2 or rk4) of size dt per element, h_0 = 0. [batch, T, in] -> [batch, T, hidden].
                """

                def __init__(self, in_size, hidden_size, activation, integrator="euler", dt=1.0, bias=True):
                    super().__init__()
                    if integrator not in ("euler", "rk2", "rk4"):
                        raise ValueError(f"unknown integrator {integrator!r} (euler, rk2, rk4)")
                    self.activation = activation
                    self.integrator = integrator
                    self.dt = dt
                    self.input = nn.Linear(in_size, hidden_size, bias=False)
                    self.hidden = nn.Linear(hidden_size, hidden_size, bias=False)
                    self.bias = nn.Parameter(torch.zeros(hidden_size)) if bias else None

                def forward(self, x):
                    drive = self.input(x) if self.bias is None else self.input(x) + self.bias  # [b, T, hidden]
                    h = torch.zeros(x.shape[0], self.hidden.weight.shape[0], dtype=drive.dtype, device=drive.device)
                    dt, steps = self.dt, []
                    for t in range(x.shape[1]):
                        u = drive[:, t]

                        def f(h):
                            return self.activation(self.hidden(h) + u) - h

                        if self.integrator == "euler":
                            h = h + f(h) * dt
                        elif self.integrator == "rk2":
                            h = h + f(h + f(h) * (dt / 2)) * dt
                        else:
                            k1 = f(h)
                            k2 = f(h + k1 * (dt / 2))
                            k3 = f(h + k2 * (dt / 2))
                            k4 = f(h + k3 * dt)
                            h = h + (k1 + k2 * 2 + k3 * 2 + k4) * (dt / 6)
                        steps.append(h)
                    return torch.stack(steps, 1)
            """".Split('\n'))
            w.Line(line);
    }

    public override void Relate(SymmetryKind kind, ISpaceRule rule)
    {
        if (!IsLinearGroup(kind))
        {
            rule.Block(Port.In, "mixes its inputs, so a shift of them is not absorbed", necessary: !rule.Has("bias"));
            rule.Block(Port.Out, "feeds its state back through hidden.weight, so a shift of it is not a shift of the next state", necessary: true);
            return;
        }
        // The state h moves as A h: input.weight → A input.weight, hidden.weight → A hidden.weight A⁻¹, bias → A bias; the
        // integrator combines h and act(…) linearly, so the group passes when act commutes with it.
        LinearMap(kind, rule, [("input.weight", 1)], [("input.weight", 0), ("bias", 0)]);
        if (kind != SymmetryKind.Scale)
        {
            rule.Act(Port.Out, "hidden.weight", 0, ActionRole.Forward);
            rule.Act(Port.Out, "hidden.weight", 1, ActionRole.Inverse);
        }
        var act = Functions.Get(rule.Layer.Args.Text("activation", "tanh"));
        var (passes, why, necessary) = act.Commutes(kind);
        if (!passes) rule.Block(Port.Out, $"applies {act.Name} inside its cell, which {why}", necessary);
    }
}
