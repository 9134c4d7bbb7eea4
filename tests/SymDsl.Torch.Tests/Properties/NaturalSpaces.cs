using SymDsl.IR;

namespace SymDsl.Torch.Tests.Properties;

/// <summary>A space of units found by <see cref="NaturalSpaces"/>: the sites whose last axis it is and every parameter axis tied to it.</summary>
/// <param name="Fixed">It holds the last axis of a model input or output: the data and the loss fix those units, so no
/// transform of the space can be a symmetry (not searched; a cross-entropy output's shift is the inference candidates' business).</param>
public sealed record UnitSpace(int Id, int Dim, IReadOnlyList<string> Sites, IReadOnlyList<ParamActionIR> Actions, bool Fixed);

/// <summary>
/// The test's own, deliberately naive grouping of unit axes, independent of the inference under test: the last axis of
/// every node and every parameter axis are joined when an op or a layer ties them — an op that keeps the last axis
/// (any activation including softmax, <c>+ - *</c>, constant factors, aliases, <c>mean</c>/<c>last</c>, LayerNorm), the
/// output rows of a producer (Linear weight rows and bias, Embedding columns, RNN input/hidden rows and hidden columns
/// and bias, attention <c>o</c> rows and bias, LayerNorm gain and bias), the input columns of a consumer (Linear and RNN
/// input columns, attention q/k/v columns). A layer applied twice ties the spaces it touches. The "natural action" on a
/// space moves every parameter axis in it: output-side axes Forward, input-side axes Inverse. Whether that action is a
/// symmetry is then decided numerically only, so this grouping can find symmetries but never wrongly assert one.
/// Layer-internal spaces (attention heads, q–k and v–o products) are not here: the inference's own candidates cover them.
/// </summary>
public static class NaturalSpaces
{
    /// <summary>
    /// The spaces of <paramref name="model"/> in two groupings, without repeats: everything joined as above, and split at
    /// every LayerNorm (its output space alone, carried by its gain and bias) and every product (h * h is unchanged by a
    /// sign flip of h). A smaller space can hold a symmetry that the joined one cannot (its other part meets an input).
    /// </summary>
    public static IReadOnlyList<UnitSpace> Of(ModelIR model)
    {
        var result = new List<UnitSpace>();
        var seen = new HashSet<string>();
        foreach (var split in new[] { false, true })
            foreach (var s in Of(model, split))
                if (seen.Add(string.Join(";", s.Actions.Select(a => $"{a.Parameter}:{a.Axis}")) + "|" + string.Join(";", s.Sites)))
                    result.Add(s with { Id = result.Count });
        return result;
    }

    static IReadOnlyList<UnitSpace> Of(ModelIR model, bool split)
    {
        var parent = new Dictionary<string, string>();
        string Find(string k)
        {
            if (!parent.TryGetValue(k, out var p)) { parent[k] = k; return k; }
            if (p == k) return k;
            var r = Find(p);
            parent[k] = r;
            return r;
        }
        void Union(string a, string b)
        {
            var ra = Find(a);
            var rb = Find(b);
            if (ra != rb) parent[ra] = rb;
        }
        var roles = new Dictionary<string, ParamActionIR>();
        var sizes = new Dictionary<string, int>();
        string P(string param, int axis, ActionRole role, int size)
        {
            var key = $"p:{param}:{axis}";
            roles[key] = new ParamActionIR(param, axis, role);
            sizes[key] = size;
            Find(key);
            return key;
        }
        static string N(int id) => $"n:{id}";
        static bool IsConv(LayerIR l) => l.Kind.Name is "Conv1d" or "Conv2d";
        static bool IsPool(NodeIR n) => n.Op == OpKind.Activation && n.Attr("fn") is "max_pool" or "avg_pool" or "global_avg_pool";

        // The test's own unit axis per node: the channels (axis 0) from a convolution on, through functions, sums and pooling;
        // the last axis otherwise. Nodes are joined only when their unit axes agree (a Linear over the positions of a [C, L]
        // value joins nothing), and flatten joins nothing (its tiled action is the inference's business).
        var axis = new int[model.Nodes.Count];
        foreach (var n in model.Nodes)
        {
            var last = Math.Max(0, n.Shape.Count - 1);
            axis[n.Id] = n.Op switch
            {
                OpKind.Layer when IsConv(model.Layer(n.Attr("layer"))) => 0,
                OpKind.Activation or OpKind.Scale or OpKind.Add or OpKind.Sub or OpKind.Mul => axis[n.Inputs[0]] == 0 ? 0 : last,
                _ => last,
            };
        }
        bool Same(int a, int b) => axis[a] == axis[b] && (axis[a] == 0) == (axis[b] == 0);

        foreach (var n in model.Nodes)
        {
            if (n.Type != ElementType.Float32 || n.Shape.Count == 0) continue;
            var self = N(n.Id);
            Find(self);
            sizes[self] = n.Shape[axis[n.Id]];
            switch (n.Op)
            {
                case OpKind.Activation when IsPool(n):
                    if (axis[n.Inputs[0]] == 0) Union(self, N(n.Inputs[0]));
                    break;
                case OpKind.Activation or OpKind.Scale:
                    Union(self, N(n.Inputs[0]));
                    break;
                case OpKind.Last or OpKind.Mean:
                    if (axis[n.Inputs[0]] == model.Node(n.Inputs[0]).Shape.Count - 1 && axis[n.Inputs[0]] > 0) Union(self, N(n.Inputs[0]));
                    break;
                case OpKind.Add or OpKind.Sub:
                    foreach (var i in n.Inputs) if (Same(i, n.Id)) Union(self, N(i));
                    break;
                case OpKind.Mul:
                    if (n.Inputs.Any(i => !Same(i, n.Id))) break;
                    if (split) Union(N(n.Inputs[0]), N(n.Inputs[^1]));
                    else foreach (var i in n.Inputs) Union(self, N(i));
                    break;
                case OpKind.Layer:
                {
                    var layer = model.Layer(n.Attr("layer"));
                    var inp = N(n.Inputs[0]);
                    string L(string local) => $"{layer.Name}.{local}";
                    bool Has(string local) => layer.Parameters.Any(p => p.Name == L(local));
                    int outDim = n.Shape[axis[n.Id]];
                    var inNode = model.Node(n.Inputs[0]);
                    int inDim = inNode.Shape.Count > 0 ? inNode.Shape[axis[inNode.Id]] : 0;
                    // The layer reads its input's units only when they are on the axis it acts on.
                    var reads = IsConv(layer) ? axis[inNode.Id] == 0 : axis[inNode.Id] == Math.Max(0, inNode.Shape.Count - 1);
                    if (!reads) inp = $"x:{n.Id}"; // a key of its own: no node's units
                    if (!reads) sizes[inp] = inDim = layer.Kind.Name switch
                    {
                        "Conv1d" or "Conv2d" => inNode.Shape[0],
                        _ => inNode.Shape[^1],
                    };
                    switch (layer.Kind.Name)
                    {
                        case "Linear":
                        case "Conv1d":
                        case "Conv2d":
                            Union(self, P(L("weight"), 0, ActionRole.Forward, outDim));
                            if (Has("bias")) Union(self, P(L("bias"), 0, ActionRole.Forward, outDim));
                            Union(inp, P(L("weight"), 1, ActionRole.Inverse, inDim));
                            break;
                        case "LayerNorm":
                            if (!split) Union(self, inp);
                            if (Has("weight")) Union(self, P(L("weight"), 0, ActionRole.Forward, outDim));
                            if (Has("bias")) Union(self, P(L("bias"), 0, ActionRole.Forward, outDim));
                            break;
                        case "Embedding":
                            Union(self, P(L("weight"), 1, ActionRole.Forward, outDim));
                            break;
                        case "RNN":
                            Union(self, P(L("input.weight"), 0, ActionRole.Forward, outDim));
                            Union(self, P(L("hidden.weight"), 0, ActionRole.Forward, outDim));
                            Union(self, P(L("hidden.weight"), 1, ActionRole.Inverse, outDim));
                            if (Has("bias")) Union(self, P(L("bias"), 0, ActionRole.Forward, outDim));
                            Union(inp, P(L("input.weight"), 1, ActionRole.Inverse, inDim));
                            break;
                        case "SelfAttention":
                            foreach (var m in new[] { "q", "k", "v" }) Union(inp, P(L($"{m}.weight"), 1, ActionRole.Inverse, inDim));
                            Union(self, P(L("o.weight"), 0, ActionRole.Forward, outDim));
                            if (Has("o.bias")) Union(self, P(L("o.bias"), 0, ActionRole.Forward, outDim));
                            break;
                    }
                    break;
                }
            }
        }

        var outputs = model.Outputs.Select(o => o.Node).ToHashSet();
        var groups = parent.Keys.GroupBy(Find).ToList();
        var spaces = new List<UnitSpace>();
        foreach (var g in groups)
        {
            var keys = g.ToList();
            var dims = keys.Select(k => sizes[k]).Distinct().ToList();
            if (dims.Count != 1) throw new InvalidOperationException($"space with axes of sizes {string.Join(", ", dims)}: {string.Join(", ", keys)}");
            var sites = keys.Where(k => k.StartsWith("n:", StringComparison.Ordinal))
                .Select(k => model.Node(int.Parse(k[2..], System.Globalization.CultureInfo.InvariantCulture)))
                .Where(n => n.Site is not null && n.Op != OpKind.Input)
                .OrderBy(n => n.Id).Select(n => n.Site!).Distinct().ToList();
            var actions = keys.Where(roles.ContainsKey).Select(k => roles[k]).OrderBy(a => a.Parameter, StringComparer.Ordinal).ThenBy(a => a.Axis).ToList();
            if (sites.Count == 0 || actions.Count == 0) continue;
            var isFixed = keys.Any(k => k.StartsWith("n:", StringComparison.Ordinal)
                && int.Parse(k[2..], System.Globalization.CultureInfo.InvariantCulture) is var id
                && (model.Node(id).Op == OpKind.Input || outputs.Contains(id)));
            spaces.Add(new UnitSpace(spaces.Count, dims[0], sites, actions, isFixed));
        }
        return spaces;
    }
}

/// <summary>A whole-layer or layer-internal action the search tries besides the unit spaces.</summary>
/// <param name="Label">What it is, for the report ("scale of fc1", "rotation(attn.qk)").</param>
/// <param name="Sites">The sites (or "attn.qk"-style targets) a candidate that holds must name to cover it.</param>
public sealed record LayerProbe(string Label, SymmetryIR Symmetry, IReadOnlyList<string> Sites);

/// <summary>
/// The test's own whole-layer actions, decided numerically like <see cref="NaturalSpaces"/>: for each layer applied to
/// produce a site, scaling all of its parameters by c &gt; 0 (scale) and, when it has an output bias, adding c to that bias
/// (translation); for each SelfAttention layer, a per-head invertible map between the query and key projections and
/// between the value and output projections (rotation of attn.qk / attn.vo).
/// </summary>
public static class LayerProbes
{
    public static IReadOnlyList<LayerProbe> Of(ModelIR model, IReadOnlyList<UnitSpace> spaces)
    {
        var probes = new List<LayerProbe>();
        var seen = new HashSet<string>();
        ParamActionIR A(string p, int axis, ActionRole role) => new(p, axis, role);
        SymmetryIR Sym(SymmetryKind kind, string target, int dim, int blocks, IReadOnlyList<ParamActionIR> actions)
            => new($"{kind}({target})", kind, target, dim, blocks, actions, false, false, model.Span);
        foreach (var n in model.Nodes.Where(n => n.Op == OpKind.Layer && n.Site is not null))
        {
            var layer = model.Layer(n.Attr("layer"));
            if (!seen.Add(layer.Name)) continue;
            var site = n.Site!;
            var sites = spaces.Where(s => s.Sites.Contains(site)).SelectMany(s => s.Sites).Append(site).Distinct().ToList();
            if (layer.Parameters.Count > 0)
                probes.Add(new($"scale of every parameter of {layer.Name}", Sym(SymmetryKind.Scale, site, 1, 1,
                    layer.Parameters.Select(p => A(p.Name, -1, ActionRole.Forward)).ToList()), sites));
            var bias = layer.Kind.Name switch
            {
                "Linear" or "LayerNorm" or "Conv1d" or "Conv2d" => $"{layer.Name}.bias",
                "SelfAttention" => $"{layer.Name}.o.bias",
                _ => null,
            };
            if (bias is not null && layer.Parameters.Any(p => p.Name == bias))
                probes.Add(new($"translation of {bias}", Sym(SymmetryKind.Translation, site, 1, 1, [A(bias, 0, ActionRole.Shift)]), sites));
            if (layer.Kind == LayerKind.SelfAttention)
            {
                var d = layer.Parameters.First(p => p.Name == $"{layer.Name}.q.weight").Shape[0];
                var heads = (int)layer.Args["heads"].AsInt();
                var hasBias = layer.Parameters.Any(p => p.Name == $"{layer.Name}.q.bias");
                var qk = new List<ParamActionIR> { A($"{layer.Name}.q.weight", 0, ActionRole.Forward), A($"{layer.Name}.k.weight", 0, ActionRole.Inverse) };
                var vo = new List<ParamActionIR> { A($"{layer.Name}.v.weight", 0, ActionRole.Forward), A($"{layer.Name}.o.weight", 1, ActionRole.Inverse) };
                if (hasBias)
                {
                    qk.Add(A($"{layer.Name}.q.bias", 0, ActionRole.Forward));
                    qk.Add(A($"{layer.Name}.k.bias", 0, ActionRole.Inverse));
                    vo.Add(A($"{layer.Name}.v.bias", 0, ActionRole.Forward));
                }
                probes.Add(new($"rotation({layer.Name}.qk)", Sym(SymmetryKind.Rotation, $"{layer.Name}.qk", d / heads, heads, qk), [$"{layer.Name}.qk"]));
                probes.Add(new($"rotation({layer.Name}.vo)", Sym(SymmetryKind.Rotation, $"{layer.Name}.vo", d / heads, heads, vo), [$"{layer.Name}.vo"]));
            }
        }
        return probes;
    }
}
