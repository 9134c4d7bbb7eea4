using System.Text;
using System.Text.Json;
using SymDsl.IR;

namespace SymDsl.Emit;

/// <summary>
/// The IR as JSON: stable (fields in a fixed order, no spans but "line:col" strings), indented, LF line ends.
/// Values are written as JSON numbers/strings/bools; a bare name (<c>activation = tanh</c>) as a string.
/// </summary>
public static class IrJson
{
    public static string Serialize(ProgramIR program)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("source", Path.GetFileName(program.SourcePath));
            w.WriteStartArray("models");
            foreach (var m in program.Models) Model(w, m);
            w.WriteEndArray();
            w.WriteStartArray("trains");
            foreach (var t in program.Trains) Train(w, t);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        var text = Encoding.UTF8.GetString(stream.ToArray()).Replace("\r\n", "\n");
        // Arrays of numbers (shapes, node inputs) on one line: easier to read and to diff.
        text = System.Text.RegularExpressions.Regex.Replace(text, @"\[\s*((?:-?[0-9.eE+-]+,\s*)*-?[0-9.eE+-]+)?\s*\]",
            m => "[" + System.Text.RegularExpressions.Regex.Replace(m.Groups[1].Value, @",\s*", ", ") + "]");
        return text + "\n";
    }

    /// <summary>One model, with the train blocks that train it.</summary>
    public static string Serialize(ProgramIR program, ModelIR model)
        => Serialize(program with { Models = [model], Trains = program.Trains.Where(t => t.Model == model.Name).ToList() });

    static void Model(Utf8JsonWriter w, ModelIR m)
    {
        w.WriteStartObject();
        w.WriteString("name", m.Name);
        Dict(w, "hyperParameters", m.HyperParameters);
        w.WriteNumber("parameterCount", m.ParameterCount);
        Objects(w, "inputs", m.Inputs, i =>
        {
            w.WriteString("name", i.Name);
            Ints(w, "shape", i.Shape);
            w.WriteString("type", i.Type.ToString());
        });
        Objects(w, "layers", m.Layers, l =>
        {
            w.WriteString("name", l.Name);
            w.WriteString("kind", l.Kind.ToString());
            Dict(w, "args", l.Args);
            Objects(w, "parameters", l.Parameters, p =>
            {
                w.WriteString("name", p.Name);
                Ints(w, "shape", p.Shape);
                w.WriteString("init", p.Init.Kind);
                if (p.Init.Kind is not ("default" or "zeros" or "ones")) w.WriteNumber("initScale", p.Init.Scale);
            });
        });
        Objects(w, "nodes", m.Nodes, n =>
        {
            w.WriteNumber("id", n.Id);
            w.WriteString("op", n.Op.ToString());
            Ints(w, "inputs", n.Inputs);
            Ints(w, "shape", n.Shape);
            w.WriteString("type", n.Type.ToString());
            if (n.Site is not null) w.WriteString("site", n.Site);
            if (n.Attrs.Count > 0) Dict(w, "attrs", n.Attrs);
        });
        Objects(w, "outputs", m.Outputs, o =>
        {
            w.WriteString("name", o.Name);
            w.WriteNumber("node", o.Node);
        });
        // Models used as blocks (only when there are any, so that other models' JSON is unchanged): the structure of the
        // flat graph above. The block's own graph is its model's entry (with these hyper-arguments).
        if (m.Blocks.Count > 0)
            Objects(w, "blocks", m.Blocks, b =>
            {
                w.WriteString("instance", b.Instance);
                w.WriteString("model", b.Model);
                Dict(w, "hyperArguments", b.HyperArguments);
                w.WriteStartArray("layers");
                foreach (var l in b.Layers) w.WriteStringValue(l);
                w.WriteEndArray();
                Ints(w, "nodes", b.Nodes);
                Ints(w, "inputs", b.Inputs);
                Objects(w, "outputs", b.Outputs, o =>
                {
                    w.WriteString("name", o.Name);
                    w.WriteNumber("node", o.Node);
                });
            });
        Objects(w, "symmetries", m.Symmetries, s =>
        {
            w.WriteString("name", s.Name);
            w.WriteString("kind", s.Kind.ToString());
            w.WriteString("target", s.Target);
            w.WriteNumber("dim", s.Dim);
            w.WriteNumber("blocks", s.Blocks);
            w.WriteBoolean("declared", s.Declared);
            w.WriteBoolean("inferred", s.Inferred);
            if (!s.Exact) w.WriteBoolean("exact", false);
            Objects(w, "actions", s.Actions, a =>
            {
                w.WriteString("parameter", a.Parameter);
                w.WriteNumber("axis", a.Axis);
                w.WriteString("role", a.Role.ToString());
                if (a.Unit != 1) w.WriteNumber("unit", a.Unit);
            });
            if (s.BufferActions.Count > 0)
                Objects(w, "buffer_actions", s.BufferActions, a =>
                {
                    w.WriteString("buffer", a.Parameter);
                    w.WriteNumber("axis", a.Axis);
                    w.WriteString("role", a.Role.ToString());
                });
        });
        w.WriteEndObject();
    }

    static void Train(Utf8JsonWriter w, TrainIR t)
    {
        w.WriteStartObject();
        w.WriteString("model", t.Model);
        w.WriteString("name", t.Name);
        w.WriteStartObject("data"); w.WriteString("kind", t.Data.Kind); Dict(w, "args", t.Data.Args); w.WriteEndObject();
        w.WriteStartObject("inputBindings");
        foreach (var (input, field) in t.InputBindings) w.WriteString(input, field);
        w.WriteEndObject();
        w.WriteStartObject("loss"); w.WriteString("kind", t.Loss.Kind); w.WriteString("output", t.Loss.Output); w.WriteString("target", t.Loss.Target); w.WriteEndObject();
        w.WriteStartObject("optimizer"); w.WriteString("kind", t.Optimizer.Kind); Dict(w, "args", t.Optimizer.Args); w.WriteEndObject();
        if (t.Schedule is { } s) { w.WriteStartObject("schedule"); w.WriteString("kind", s.Kind); Dict(w, "args", s.Args); w.WriteEndObject(); }
        else w.WriteNull("schedule");
        w.WriteNumber("batch", t.Batch);
        if (t.Epochs is { } e) w.WriteNumber("epochs", e); else w.WriteNull("epochs");
        if (t.Steps is { } st) w.WriteNumber("steps", st); else w.WriteNull("steps");
        w.WriteNumber("seed", t.Seed);
        w.WriteNumber("logEvery", t.LogEvery);
        if (t.CheckpointEvery is { } c) w.WriteNumber("checkpointEvery", c); else w.WriteNull("checkpointEvery");
        Strings(w, "symmetries", t.Symmetries.Select(s => s.Name).ToList()); // the block's: the model's plus those its loss adds
        Objects(w, "breaks", t.Breaks, b =>
        {
            w.WriteString("method", b.Method);
            Dict(w, "args", b.Args);
            Strings(w, "symmetries", b.Symmetries);
            Strings(w, "parameters", b.Parameters);
        });
        Objects(w, "diagnostics", t.Diagnostics, d =>
        {
            w.WriteString("metric", d.Metric);
            w.WriteString("key", d.Key);
            Strings(w, "targets", d.Targets);
            Strings(w, "targetKinds", d.TargetKinds);
            Dict(w, "args", d.Args);
            w.WriteNumber("every", d.Every);
        });
        Objects(w, "induces", t.Induces, i =>
        {
            w.WriteString("structure", i.Structure);
            w.WriteString("parameter", i.Parameter);
            Dict(w, "args", i.Args);
        });
        if (t.Teleports.Count > 0) // only when there are some: files without teleport keep their IR unchanged
            Objects(w, "teleports", t.Teleports, x =>
            {
                Strings(w, "symmetries", x.Symmetries);
                Strings(w, "groups", x.Groups);
                w.WriteNumber("every", x.Every);
            });
        w.WriteEndObject();
    }

    /// <summary>An array of objects: <c>"name": [ { body(item) }, … ]</c>.</summary>
    static void Objects<T>(Utf8JsonWriter w, string name, IEnumerable<T> items, Action<T> body)
    {
        w.WriteStartArray(name);
        foreach (var item in items)
        {
            w.WriteStartObject();
            body(item);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    static void Ints(Utf8JsonWriter w, string name, IEnumerable<int> xs)
    {
        w.WriteStartArray(name);
        foreach (var x in xs) w.WriteNumberValue(x);
        w.WriteEndArray();
    }

    static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> xs)
    {
        w.WriteStartArray(name);
        foreach (var x in xs) w.WriteStringValue(x);
        w.WriteEndArray();
    }

    static void Dict(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, Value> d)
    {
        w.WriteStartObject(name);
        foreach (var (k, v) in d) { w.WritePropertyName(k); Write(w, v); }
        w.WriteEndObject();
    }

    static void Write(Utf8JsonWriter w, Value v)
    {
        switch (v)
        {
            case Value.Int i: w.WriteNumberValue(i.V); break;
            case Value.Float f:
                if (double.IsFinite(f.V)) w.WriteRawValue(FormatDouble(f.V)); else w.WriteStringValue(f.ToString());
                break;
            case Value.Bool b: w.WriteBooleanValue(b.V); break;
            case Value.Str s: w.WriteStringValue(s.V); break;
            case Value.Name n: w.WriteStringValue(n.V); break;
            case Value.List l:
                w.WriteStartArray();
                foreach (var x in l.Items) Write(w, x);
                w.WriteEndArray();
                break;
        }
    }

    /// <summary>Shortest round-trip form, always with a decimal point or exponent so it reads back as a float.</summary>
    static string FormatDouble(double d)
    {
        var s = d.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        if (!s.Contains('.') && !s.Contains('E') && !s.Contains('e')) s += ".0";
        return s;
    }
}
