using SymDsl.IR;

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
