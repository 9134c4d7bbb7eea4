using SymDsl.IR;
using SymDsl.Text;

namespace SymDsl.Torch.Tests;

/// <summary>
/// IR built by hand exactly as the front end produces it for the sketch's examples (see ProgramIR.cs), so the
/// runner can be tested without the compiler.
/// </summary>
internal static class TestPrograms
{
    public static readonly SourceSpan Span = SourceSpan.None("test.sym");

    public static IReadOnlyDictionary<string, Value> Args(params (string k, Value v)[] kv) => kv.ToDictionary(p => p.k, p => p.v);
    public static Value I(long v) => new Value.Int(v);
    public static Value D(double v) => new Value.Float(v);
    public static Value B(bool v) => new Value.Bool(v);
    public static Value N(string v) => new Value.Name(v);
    public static Value S(string v) => new Value.Str(v);
    static readonly IReadOnlyDictionary<string, Value> None = new Dictionary<string, Value>();

    public static ParameterIR Param(string name, params int[] shape) => new(name, shape, InitSpec.Default);

    public static LayerIR Linear(string name, int @in, int @out, bool bias = true, InitSpec? init = null)
    {
        var ps = new List<ParameterIR> { new($"{name}.weight", [@out, @in], init ?? InitSpec.Default) };
        if (bias) ps.Add(Param($"{name}.bias", @out));
        return new(name, LayerKind.Linear, Args(("in", I(@in)), ("out", I(@out)), ("bias", B(bias))), ps, Span);
    }

    /// <summary>A small graph builder: nodes in topological order with ids = indices.</summary>
    public sealed class Graph
    {
        public List<NodeIR> Nodes { get; } = new();
        int Add(OpKind op, int[] inputs, int[] shape, string? site, IReadOnlyDictionary<string, Value>? attrs = null, ElementType type = ElementType.Float32)
        {
            Nodes.Add(new NodeIR(Nodes.Count, op, inputs, shape, type, site, attrs ?? None, Span));
            return Nodes.Count - 1;
        }
        public int Input(string name, int[] shape, ElementType type = ElementType.Float32) => Add(OpKind.Input, [], shape, null, Args(("name", N(name))), type);
        public int Layer(string layer, int input, int[] shape, string? site = null) => Add(OpKind.Layer, [input], shape, site, Args(("layer", N(layer))));
        public int Act(string fn, int input, int[] shape, string? site = null, params (string k, Value v)[] extra) =>
            Add(OpKind.Activation, [input], shape, site, Args([("fn", N(fn)), .. extra]));
        public int Op(OpKind op, int[] inputs, int[] shape, string? site = null, params (string k, Value v)[] attrs) => Add(op, inputs, shape, site, Args(attrs));
    }

    /// <summary>examples/mlp.sym of the language sketch: model Mlp(width = 128).</summary>
    public static ModelIR Mlp(int width = 128)
    {
        var g = new Graph();
        var x = g.Input("x", [64]);
        var z = g.Layer("fc1", x, [width]);
        var h = g.Act("relu", z, [width], "h");
        var logits = g.Layer("fc2", h, [10], "logits");
        var perm = new SymmetryIR("perm", SymmetryKind.Permutation, "h", width, 1,
            [new("fc1.weight", 0, ActionRole.Forward), new("fc1.bias", 0, ActionRole.Forward), new("fc2.weight", 1, ActionRole.Inverse)], true, true, Span);
        var scale = new SymmetryIR("scale", SymmetryKind.Rescale, "h", width, 1,
            [new("fc1.weight", 0, ActionRole.Forward), new("fc1.bias", 0, ActionRole.Forward), new("fc2.weight", 1, ActionRole.Inverse)], true, true, Span);
        var translation = new SymmetryIR("translation(logits)", SymmetryKind.Translation, "logits", 1, 1,
            [new("fc2.bias", 0, ActionRole.Shift)], false, true, Span);
        return new ModelIR("Mlp", Args(("width", I(width))), [new InputIR("x", [64], ElementType.Float32, Span)],
            [Linear("fc1", 64, width), Linear("fc2", width, 10)], g.Nodes, [new OutputIR("logits", logits)], [perm, scale, translation], Span);
    }

    /// <summary>The train Mlp block of the sketch, with overrides for tests.</summary>
    public static TrainIR MlpTrain(int? epochs = 20, int? steps = null, long seed = 1, bool syre = true, double lr = 0.05, int batch = 64,
        int logEvery = 10, int? checkpointEvery = null, ScheduleIR? schedule = null, string optimizer = "sgd", DataIR? data = null, IReadOnlyList<InduceIR>? induces = null)
    {
        var opt = optimizer == "sgd"
            ? new OptimizerIR("sgd", Args(("lr", D(lr)), ("momentum", D(0.9)), ("weight_decay", D(1e-4))), Span)
            : new OptimizerIR(optimizer, Args(("lr", D(lr)), ("weight_decay", D(1e-4)), ("beta1", D(0.9)), ("beta2", D(0.999))), Span);
        var breaks = syre
            ? new List<BreakIR> { new("syre", Args(("sigma", D(0.1)), ("decay", D(1e-4))), ["perm", "scale"], ["fc1.weight", "fc1.bias", "fc2.weight"], Span) }
            : new List<BreakIR>();
        var diagnose = new List<DiagnoseIR>
        {
            new("collapse", ["scale"], ["symmetry"], None, 10, Span),
            new("balance", ["scale"], ["symmetry"], None, 10, Span),
            new("duplicates", ["perm"], ["symmetry"], None, 10, Span),
            new("rank", ["fc1.weight"], ["parameter"], None, 10, Span),
        };
        return new TrainIR("Mlp", data ?? new DataIR("digits", Args(("test_fraction", D(0.2))), Span),
            new LossIR("cross_entropy", "logits", "label", Span), opt, schedule, batch, steps is null ? epochs : null, steps, seed, logEvery, checkpointEvery,
            breaks, diagnose, induces ?? [], Span) { InputBindings = XReadsX };
    }

    /// <summary>The checker's binding for a model whose one input <c>x</c> reads the data field <c>x</c>.</summary>
    public static readonly IReadOnlyDictionary<string, string> XReadsX = new Dictionary<string, string> { ["x"] = "x" };

    /// <summary>The TanhNet baseline of the front end: tanh MLP on teacher data, adam + cosine, perturb on perm and sparsity on fc1.weight.</summary>
    public static (ModelIR, TrainIR) TanhNet(int steps)
    {
        var g = new Graph();
        var x = g.Input("x", [10]);
        var z = g.Layer("fc1", x, [64]);
        var h = g.Act("tanh", z, [64], "h");
        var y = g.Layer("fc2", h, [1], "y");
        var perm = new SymmetryIR("perm", SymmetryKind.Permutation, "h", 64, 1,
            [new("fc1.weight", 0, ActionRole.Forward), new("fc1.bias", 0, ActionRole.Forward), new("fc2.weight", 1, ActionRole.Inverse)], true, true, Span);
        var model = new ModelIR("TanhNet", Args(), [new InputIR("x", [10], ElementType.Float32, Span)], [Linear("fc1", 10, 64), Linear("fc2", 64, 1)],
            g.Nodes, [new OutputIR("y", y)], [perm], Span);
        var train = new TrainIR("TanhNet",
            new DataIR("teacher", Args(("d_in", I(10)), ("d_out", I(1)), ("hidden", I(8)), ("samples", I(1024)), ("noise", D(0.01)), ("test_fraction", D(0.2))), Span),
            new LossIR("mse", "y", "target", Span),
            new OptimizerIR("adam", Args(("lr", D(0.003)), ("weight_decay", D(0.0)), ("beta1", D(0.9)), ("beta2", D(0.999))), Span),
            new ScheduleIR("cosine", Args(("min_lr", D(1e-5))), Span), 64, null, steps, 1, 10, null,
            [new BreakIR("perturb", Args(("sigma", D(0.01)), ("decay", D(1e-4))), ["perm"], ["fc1.weight", "fc1.bias", "fc2.weight"], Span)],
            [], [new InduceIR("sparsity", "fc1.weight", Args(), Span)], Span) { InputBindings = XReadsX };
        return (model, train);
    }

    /// <summary>The DeepLinear baseline: three linear layers on lowrank_regression, syre_diag on the rotation symmetries.</summary>
    public static (ModelIR, TrainIR) DeepLinear(int steps)
    {
        var g = new Graph();
        var x = g.Input("x", [16]);
        var h1 = g.Layer("w1", x, [32], "h1");
        var h2 = g.Layer("w2", h1, [32], "h2");
        var y = g.Layer("w3", h2, [16], "y");
        var model = new ModelIR("DeepLinear", Args(), [new InputIR("x", [16], ElementType.Float32, Span)],
            [Linear("w1", 16, 32, bias: false, init: new InitSpec("normal", 0.05)), Linear("w2", 32, 32, bias: false, init: new InitSpec("normal", 0.05)), Linear("w3", 32, 16, bias: false, init: new InitSpec("normal", 0.05))],
            g.Nodes, [new OutputIR("y", y)], [], Span);
        var train = new TrainIR("DeepLinear",
            new DataIR("lowrank_regression", Args(("d", I(16)), ("rank", I(4)), ("samples", I(2048)), ("top", D(2.0)), ("ratio", D(0.5)), ("noise", D(0.0)), ("test_fraction", D(0.2))), Span),
            new LossIR("mse", "y", "target", Span),
            new OptimizerIR("sgd", Args(("lr", D(0.5)), ("momentum", D(0.0)), ("weight_decay", D(0.0))), Span), null, 64, null, steps, 1, 10, null,
            [new BreakIR("syre_diag", Args(("sigma", D(0.01)), ("decay", D(1e-4))), ["r1", "r2"], ["w1.weight", "w2.weight", "w3.weight"], Span)],
            [], [], Span) { InputBindings = XReadsX };
        return (model, train);
    }

    public static ProgramIR Program(ModelIR model, TrainIR train) => new("/tmp/test.sym", [model], [train]);

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
