using SymDsl.IR;

namespace SymDsl.Emit;

/// <summary>
/// What a layer definition's C# emission (<see cref="Vocabulary.LayerDefinition.CSharpConstruct"/> and friends) may use:
/// the model, the layers' field names, their arguments as written, the output writer, and the emitter's literal helpers.
/// </summary>
public sealed class CSharpLayerContext
{
    readonly IReadOnlyDictionary<string, string> fields;
    readonly CSharpEmitter.Writer writer;

    internal CSharpLayerContext(ModelIR model, IReadOnlyDictionary<string, string> fields, CSharpEmitter.Writer writer)
    {
        Model = model;
        this.fields = fields;
        this.writer = writer;
    }

    public ModelIR Model { get; }

    /// <summary>The C# field of <paramref name="layer"/> (sanitised and unique; may start with @).</summary>
    public string Field(LayerIR layer) => fields[layer.Name];

    /// <summary>Argument <paramref name="key"/> of the layer as C#: its expression in hyper-parameters when it has one, else its value.</summary>
    public string Arg(LayerIR layer, string key) => CSharpEmitter.Arg(Model, layer, key);

    public void Line(string text = "") => writer.Line(text);
    /// <summary>"{" and one more level of indentation.</summary>
    public void Open() => writer.Open();
    /// <summary>One level less and "}".</summary>
    public void Close() => writer.Close();

    /// <summary>The TorchSharp call that initialises <paramref name="tensor"/> as <paramref name="init"/> says.</summary>
    public static string InitCall(string tensor, InitSpec init) => CSharpEmitter.InitCall(tensor, init);
    /// <summary>A C# string literal's contents.</summary>
    public static string Escape(string s) => CSharpEmitter.Escape(s);
    /// <summary>Text for an XML doc comment.</summary>
    public static string Xml(string s) => CSharpEmitter.Xml(s);
}
