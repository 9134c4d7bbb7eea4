using SymDsl.IR;
using SymDsl.Vocabulary;

namespace SymDsl.Symmetries;

/// <summary>
/// The unit axis of every node (docs/language.md, "The unit axis"): the axis of its per-example shape that holds the units a
/// group acts on. It is decided by what produced the value: a layer's output has the layer's <see cref="LayerDefinition.UnitAxis"/>
/// (the last axis for Linear, axis 0 — the channels — for Conv1d/Conv2d); a function, a sum, a scale keep their input's; pooling
/// keeps the channels; <c>last</c>/<c>mean</c> drop axis 0; <c>flatten</c> makes one axis. A model input takes the unit axis its
/// first consumer reads (the channels of <c>[1, 28, 28]</c> for a Conv2d).
/// </summary>
public static class UnitAxes
{
    /// <summary>Axis <paramref name="axis"/> (negative counts from the end) of a shape of rank <paramref name="rank"/>, in [0, rank).</summary>
    public static int Normalize(int axis, int rank) => rank == 0 ? 0 : axis < 0 ? Math.Max(0, axis + rank) : Math.Min(axis, rank - 1);

    /// <summary>The unit axis of each node of <paramref name="model"/>, by node id (0 for a scalar).</summary>
    public static int[] Of(ModelIR model)
    {
        var axes = new int[model.Nodes.Count];
        var firstConsumer = new int[model.Nodes.Count];
        Array.Fill(firstConsumer, -1);
        foreach (var n in model.Nodes)
            foreach (var i in n.Inputs)
                if (firstConsumer[i] < 0) firstConsumer[i] = n.Id;

        foreach (var n in model.Nodes)
        {
            int rank = n.Shape.Count, last = Math.Max(0, rank - 1);
            int In(int k = 0) => axes[n.Inputs[k]];
            axes[n.Id] = n.Op switch
            {
                OpKind.Input => firstConsumer[n.Id] >= 0 ? Expected(model, model.Node(firstConsumer[n.Id]), rank) : last,
                OpKind.Layer => Normalize(LayerDefinition.Of(model.Layer(n.Attr("layer")).Kind).UnitAxis, rank),
                OpKind.Activation => Functions.Get(n.Attr("fn")).Has(FunctionProperties.OverPositions)
                    ? (In() == 0 ? 0 : last)
                    : In(),
                OpKind.Add or OpKind.Sub or OpKind.Mul or OpKind.Scale => In(),
                // [T, …] → […]: axis 0 is reduced; a unit axis after it moves down by one.
                OpKind.Last or OpKind.Mean => In() > 0 ? In() - 1 : last,
                OpKind.Flatten => 0,
                _ => last,
            };
        }
        return axes;
    }

    /// <summary>The axis of a value of rank <paramref name="rank"/> that <paramref name="consumer"/> reads as its units.</summary>
    static int Expected(ModelIR model, NodeIR consumer, int rank) => consumer.Op switch
    {
        OpKind.Layer => Normalize(LayerDefinition.Of(model.Layer(consumer.Attr("layer")).Kind).UnitAxis, rank),
        OpKind.Activation when Functions.Get(consumer.Attr("fn")).Has(FunctionProperties.OverPositions) => 0,
        _ => Math.Max(0, rank - 1),
    };
}
