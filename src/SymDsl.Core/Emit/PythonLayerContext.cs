using SymDsl.IR;

namespace SymDsl.Emit;

/// <summary>
/// What a layer definition's Python emission (<see cref="Vocabulary.LayerDefinition.PythonConstruct"/> and friends) may use:
/// the model (block) being written, the layers' attribute accessors, the output writer, and the emitter's literal helpers.
/// </summary>
public sealed class PythonLayerContext
{
    readonly IReadOnlyDictionary<string, string> fields;
    readonly PythonEmitter.Writer writer;

    internal PythonLayerContext(ModelIR model, IReadOnlyDictionary<string, string> fields, PythonEmitter.Writer writer)
    {
        Model = model;
        this.fields = fields;
        this.writer = writer;
    }

    /// <summary>The model or block whose class is being written (its own layers; a block's layers are in the block's class).</summary>
    public ModelIR Model { get; }

    /// <summary>How forward reads the layer's submodule: <c>self.fc1</c>, or <c>self._modules["type"]</c> for a name that is
    /// not a free Python attribute.</summary>
    public string Field(LayerIR layer) => fields[layer.Name];

    /// <summary>Argument <paramref name="key"/> of the layer as a Python literal (its compiled value).</summary>
    public string Arg(LayerIR layer, string key) => PythonEmitter.Literal(layer.Args[key]);

    /// <summary>A float as a Python literal.</summary>
    public static string Double(double d) => PythonEmitter.Double(d);

    /// <summary>A Python string literal.</summary>
    public static string String(string s) => PythonEmitter.String(s);

    /// <summary>Writes one line at the current indentation.</summary>
    public void Line(string text = "") => writer.Line(text);
    /// <summary>One more level of indentation (after a line ending in a colon).</summary>
    public void Indent() => writer.Indent();
    /// <summary>One level less.</summary>
    public void Dedent() => writer.Dedent();
}
