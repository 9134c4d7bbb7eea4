using System.Globalization;
using System.Text;

namespace SymDsl.Torch.Tests.Properties;

/// <summary>A generated model: its .sym text, its outputs, and every site it names (all intermediate values are named).</summary>
/// <param name="Seed">The seed that generated it (<see cref="ModelGenerator.Generate(int)"/> reproduces it).</param>
/// <param name="Features">The constructs used ("residual", "shared", "rnn:relu/rk4", …), for coverage counts.</param>
public sealed record GeneratedModel(int Seed, string Name, string Text, IReadOnlyList<string> Outputs, IReadOnlyList<string> Sites,
    IReadOnlyList<string> Features);

/// <summary>
/// Seeded generator of random, valid single-model .sym programs over the whole model catalog (docs/language.md,
/// "layer" and "Values, sites and output"): Linear (bias on/off), LayerNorm (affine on/off, eps 0 or default),
/// Embedding (int input), SelfAttention (heads, bias, causal), RNN (every activation and integrator); the functions
/// relu, leaky_relu, tanh, sigmoid, gelu, sin, identity, softmax; <c>+ - *</c>, constant factors, <c>-e</c>,
/// <c>mean</c>, <c>last</c>, <c>flatten</c>; aliases; layers applied twice (in a row, or on two branches); residual
/// streams, pre-norm residual blocks, LayerNorm MLPs, RNN then last/mean then Linear; one to three outputs.
/// Every intermediate value is named (one operation per line), so each is a site. Sizes are 2–6 units and
/// sequences 2–4 steps, so a model lowers and runs in milliseconds.
/// </summary>
public sealed class ModelGenerator
{
    /// <summary>A value: its name and its per-example shape ([n], [T, n], or [T] for int token ids).</summary>
    sealed record Val(string Name, int[] Shape, bool Int)
    {
        public int Last => Shape[^1];
        public bool Seq => Shape.Length == 2;
    }

    sealed record Lay(string Name, string Kind, int In, int Out);

    static readonly string[] Activations = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "sin", "identity"];
    static readonly string[] RnnActivations = ["tanh", "relu", "sigmoid", "identity", "gelu", "sin"];
    static readonly string[] Integrators = ["euler", "rk2", "rk4"];

    readonly Random rng;
    readonly int seed;
    readonly StringBuilder layerText = new();
    readonly StringBuilder body = new();
    readonly List<Val> vals = [];
    readonly List<Lay> layers = [];
    readonly HashSet<string> consumed = [];
    /// <summary>For a value made from another by a constant factor or an alias, that other's root: `x + (-x)` is 0.</summary>
    readonly Dictionary<string, string> root = [];
    readonly List<string> sites = [];
    readonly List<string> outputs = [];
    readonly SortedSet<string> features = [];
    readonly int steps;
    int counter;

    ModelGenerator(int seed)
    {
        this.seed = seed;
        rng = new Random(seed);
        steps = rng.Next(2, 5);
    }

    /// <summary>
    /// The same model with every LayerNorm's eps = 1e-300: scale invariance through it is then exact in float64, and a
    /// LayerNorm of an all-zero vector (relu of negatives, a Linear without bias of zeros) still gives 0, not 0/0.
    /// </summary>
    public static string WithExactNorms(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text, @"LayerNorm\((\d+)(, eps = 0\.0)?", "LayerNorm($1, eps = 1e-300");

    /// <summary>The model for <paramref name="seed"/> (deterministic).</summary>
    public static GeneratedModel Generate(int seed) => new ModelGenerator(seed).Run();

    /// <summary>The conv net for <paramref name="seed"/> (deterministic; see <see cref="Conv"/>).</summary>
    public static GeneratedModel GenerateConv(int seed) => new ModelGenerator(seed).Conv();

    int Size() => rng.Next(2, 7);
    int NormSize() => rng.Next(3, 7);
    bool Coin(int oneIn = 2) => rng.Next(oneIn) == 0;
    T Pick<T>(IReadOnlyList<T> xs) => xs[rng.Next(xs.Count)];
    static string F(double d) => d.ToString("0.0##", CultureInfo.InvariantCulture);

    GeneratedModel Run()
    {
        var name = $"P{seed}";
        var inputs = new List<Val>();
        switch (rng.Next(6))
        {
            case 0: case 1: inputs.Add(new("x", [Size()], false)); break;
            case 2: inputs.Add(new("x", [steps, Size()], false)); break;
            case 3: inputs.Add(new("tokens", [steps], true)); break;
            case 4: inputs.Add(new("x", [Size()], false)); inputs.Add(new("u", [Size()], false)); features.Add("two-inputs"); break;
            default: inputs.Add(new("tokens", [steps], true)); inputs.Add(new("x", [steps, Size()], false)); features.Add("two-inputs"); break;
        }
        var header = new StringBuilder();
        foreach (var i in inputs)
            header.Append($"    input {i.Name}: {(i.Int ? "int " : "")}[{string.Join(", ", i.Shape)}]\n");

        // Every input is used: tokens go through an Embedding first; a float input gets the first block.
        foreach (var i in inputs)
        {
            if (i.Int)
            {
                var vocab = rng.Next(3, 8);
                var d = Size();
                var emb = NewLayer("emb", "Embedding", 1, d, $"Embedding({vocab}, {d})");
                features.Add("embedding");
                Emit(emb.Name + "(" + Use(i) + ")", [steps, d]);
            }
            else
            {
                vals.Add(i);
                Block(i);
            }
        }

        var blocks = rng.Next(2, 7);
        for (int b = 0; b < blocks; b++) Block(PickValue());

        // Outputs: every value nothing consumes (no dead code: a value nothing reads has every symmetry), often through a head.
        var leaves = vals.Where(v => !v.Int && !consumed.Contains(v.Name) && !inputs.Contains(v)).ToList();
        if (leaves.Count == 0) leaves.Add(vals[^1]);
        foreach (var leaf in leaves)
        {
            var v = leaf;
            if (v.Seq && Coin(3)) v = Emit($"{Pick(new[] { "mean", "last" })}({Use(v)})", [v.Last]);
            var oname = $"y{outputs.Count}";
            string expr;
            switch (rng.Next(5))
            {
                case 0: expr = Use(v); features.Add("output-alias"); break;                        // output y = h
                case 1: expr = $"softmax({Use(v)})"; features.Add("output-softmax"); break;
                default:
                {
                    var k = Size();
                    var head = LinearLayer(v.Last, k, allowShare: true);
                    expr = $"{head.Name}({Use(v)})";
                    break;
                }
            }
            body.Append($"    output {oname} = {expr}\n");
            outputs.Add(oname);
            sites.Add(oname);
        }

        var text = new StringBuilder();
        text.Append($"model {name} {{\n").Append(header).Append(layerText).Append(body).Append("}\n");
        return new GeneratedModel(seed, name, text.ToString(), outputs, sites, features.ToList());
    }

    /// <summary>A value to build on: mostly one nothing consumes yet (the model stays connected), else any float value.</summary>
    Val PickValue()
    {
        var floats = vals.Where(v => !v.Int).ToList();
        var open = floats.Where(v => !consumed.Contains(v.Name)).ToList();
        return open.Count > 0 && !Coin(4) ? open[open.Count - 1 - rng.Next(Math.Min(open.Count, 2))] : Pick(floats);
    }

    string Use(Val v) { consumed.Add(v.Name); return v.Name; }
    string Root(Val v) => root.GetValueOrDefault(v.Name, v.Name);

    Val Emit(string expr, int[] shape, string prefix = "h")
    {
        var v = new Val($"{prefix}{counter++}", shape, false);
        body.Append($"    {v.Name} = {expr}\n");
        if (expr.StartsWith("identity(", StringComparison.Ordinal)) root[v.Name] = root.GetValueOrDefault(expr[9..^1], expr[9..^1]);
        vals.Add(v);
        sites.Add(v.Name);
        return v;
    }

    Lay NewLayer(string prefix, string kind, int input, int output, string decl)
    {
        var l = new Lay($"{prefix}{layers.Count}", kind, input, output);
        layers.Add(l);
        layerText.Append($"    layer {l.Name} = {decl}\n");
        return l;
    }

    Lay LinearLayer(int input, int output, bool allowShare)
    {
        if (allowShare && Coin(4) && layers.FirstOrDefault(l => l.Kind == "Linear" && l.In == input && l.Out == output) is { } shared)
        {
            features.Add("shared");
            return shared;
        }
        var bias = !Coin(4);
        if (!bias) features.Add("linear-nobias");
        return NewLayer("fc", "Linear", input, output, bias ? $"Linear({input}, {output})" : $"Linear({input}, {output}, bias = false)");
    }

    /// <summary>A LayerNorm over n ≥ 3 units (over 2 units with eps = 0 it is ±1, a step function of its input: degenerate).</summary>
    Lay NormLayer(int n)
    {
        if (n < 3) throw new InvalidOperationException("LayerNorm over fewer than 3 units");
        var affine = !Coin(4);
        var exact = Coin(2);
        var args = new List<string> { n.ToString(CultureInfo.InvariantCulture) };
        if (exact) args.Add("eps = 0.0");
        if (!affine) { args.Add("affine = false"); features.Add("ln-noaffine"); }
        features.Add(exact ? "ln-eps0" : "ln-eps");
        return NewLayer("ln", "LayerNorm", n, n, $"LayerNorm({string.Join(", ", args)})");
    }

    string Act(Val v)
    {
        var fn = Pick(Activations);
        features.Add(fn);
        return fn == "leaky_relu" && Coin() ? $"leaky_relu({Use(v)}, negative_slope = {F(0.05 + 0.05 * rng.Next(5))})" : $"{fn}({Use(v)})";
    }

    Val Dense(Val v, int output, bool allowShare = true)
    {
        var l = LinearLayer(v.Last, output, allowShare);
        return Emit($"{l.Name}({Use(v)})", v.Seq ? [v.Shape[0], output] : [output]);
    }

    void Block(Val v)
    {
        var choice = rng.Next(v.Seq ? 18 : 13);
        switch (choice)
        {
            case 0: case 1:   // h = σ(W x)
            {
                var a = Dense(v, Size());
                if (!Coin(3)) Emit(Act(a), a.Shape);
                features.Add("dense");
                break;
            }
            case 2:   // LN MLP: relu(ln(lin(x)))
            {
                var a = Dense(v, NormSize());
                var n = Emit($"{NormLayer(a.Last).Name}({Use(a)})", a.Shape);
                Emit(Act(n), n.Shape);
                features.Add("ln-mlp");
                break;
            }
            case 3:   // residual: z1 = z0 + fc2(σ(fc1(z0)))
            case 4:   // pre-norm residual: z1 = z0 + fc2(σ(fc1(ln(z0))))
            {
                var start = v;
                if (choice == 4 && v.Last >= 3) { start = Emit($"{NormLayer(v.Last).Name}({Use(v)})", v.Shape); features.Add("prenorm"); }
                else features.Add("residual");
                var a = Dense(start, Size());
                var h = Emit(Act(a), a.Shape);
                var r = Dense(h, v.Last);
                var op = Coin(4) ? "-" : "+";
                Emit($"{Use(v)} {op} {Use(r)}", v.Shape, "z");
                break;
            }
            case 5:   // elementwise combination of two values of equal shape (or of a value and a function of it)
            {
                // Only values nothing reads yet: `z = x - h` then `z + h` would cancel h, and every parameter behind it would
                // be a (true, but algebraic) symmetry no calculus over ops can see.
                var others = vals.Where(o => !o.Int && Root(o) != Root(v) && o.Shape.SequenceEqual(v.Shape) && !consumed.Contains(o.Name)).ToList();
                var fresh = others.Count == 0 || Coin(3);
                var w = fresh ? Emit(Act(v), v.Shape) : Pick(others);
                // v - σ(v) can vanish (x - relu(x) for x ≥ 0): with a function of v, only + and *.
                var op = fresh ? Pick(new[] { "+", "*" }) : Pick(new[] { "+", "-", "*" });
                features.Add(op == "*" ? "product" : "sum");
                Emit($"{Use(v)} {op} {Use(w)}", v.Shape);
                break;
            }
            case 6:   // constant factors
            {
                var c = F(0.5 + 0.25 * rng.Next(7));
                var expr = rng.Next(3) switch { 0 => $"{c} * {Use(v)}", 1 => $"{Use(v)} * {c}", _ => $"-{Use(v)}" };
                features.Add("constant");
                root[Emit(expr, v.Shape).Name] = Root(v);
                break;
            }
            case 7:   // alias g = h
                features.Add("alias");
                root[Emit(Use(v), v.Shape, "g").Name] = Root(v);
                break;
            case 8:   // a square Linear applied twice in a row, or on two branches
            {
                var l = LinearLayer(v.Last, v.Last, allowShare: false);
                features.Add("twice");
                var a = Emit($"{l.Name}({Use(v)})", v.Shape);
                if (Coin())
                {
                    var h = Emit(Act(a), a.Shape);
                    Emit($"{l.Name}({Use(h)})", v.Shape);
                }
                else
                {
                    var branch = Emit(Act(v), v.Shape);
                    var b = Emit($"{l.Name}({Use(branch)})", v.Shape);
                    Emit($"{Use(a)} + {Use(b)}", v.Shape);
                }
                break;
            }
            case 9:
                features.Add("softmax");
                Emit($"softmax({Use(v)})", v.Shape);
                break;
            case 10:
                if (v.Last < 3) { Emit(Act(v), v.Shape); break; }
                features.Add("ln");
                Emit($"{NormLayer(v.Last).Name}({Use(v)})", v.Shape);
                break;
            case 11:
                Emit(Act(v), v.Shape);
                break;
            case 12:   // a Linear without nonlinearity, then another (rotation site)
            {
                var a = Dense(v, Size());
                Dense(a, Size());
                features.Add("linear-chain");
                break;
            }
            case 13: case 14:   // RNN, then often last/mean then Linear
            {
                var hidden = Size();
                var act = Pick(RnnActivations);
                var integ = Pick(Integrators);
                var args = new List<string> { v.Last.ToString(CultureInfo.InvariantCulture), hidden.ToString(CultureInfo.InvariantCulture) };
                if (act != "tanh" || Coin()) args.Add($"activation = {act}");
                if (integ != "euler" || Coin()) args.Add($"integrator = {integ}");
                if (Coin()) args.Add($"dt = {F(0.25 * rng.Next(1, 5))}");
                if (Coin(4)) args.Add("bias = false");
                var l = NewLayer("rnn", "RNN", v.Last, hidden, $"RNN({string.Join(", ", args)})");
                features.Add($"rnn:{act}/{integ}");
                var h = Emit($"{l.Name}({Use(v)})", [v.Shape[0], hidden]);
                if (!Coin(3))
                {
                    var m = Emit($"{Pick(new[] { "last", "mean" })}({Use(h)})", [hidden]);
                    Dense(m, Size());
                }
                break;
            }
            case 15:   // SelfAttention
            {
                var d = v.Last;
                var divisors = Enumerable.Range(1, d).Where(k => d % k == 0).ToList();
                var heads = Pick(divisors);
                var args = new List<string> { d.ToString(CultureInfo.InvariantCulture), heads.ToString(CultureInfo.InvariantCulture) };
                if (Coin(3)) { args.Add("causal = true"); features.Add("causal"); }
                if (Coin(4)) { args.Add("bias = false"); features.Add("attention-nobias"); }
                var l = NewLayer("attn", "SelfAttention", d, d, $"SelfAttention({string.Join(", ", args)})");
                features.Add(heads > 1 ? "attention-multihead" : "attention");
                Emit($"{l.Name}({Use(v)})", v.Shape, "a");
                break;
            }
            case 16:   // mean / last
            {
                var op = Pick(new[] { "mean", "last" });
                features.Add(op);
                Emit($"{op}({Use(v)})", [v.Last]);
                break;
            }
            default:   // flatten
                features.Add("flatten");
                Emit($"flatten({Use(v)})", [v.Shape[0] * v.Last]);
                break;
        }
    }

    // ---------------------------------------------------------------- conv nets (channels first)

    // No sigmoid: its outputs near ½ make the next convolution nearly constant over examples, so a relu after it is often dead
    // on the whole probe batch and every action upstream "verifies" vacuously.
    static readonly string[] ConvActivations = ["relu", "leaky_relu", "tanh", "identity", "sin"];

    /// <summary>
    /// A conv net on [C, L] or [C, H, W]: Conv1d/Conv2d (kernel 1 or 3, stride 1 or 2, padding 0 or 1, bias on/off) with
    /// activations, residual conv blocks, max/avg pooling, two convs in a row, products and sums; then a head: global average
    /// pooling into a Linear, flatten into a Linear, a 1×1 conv pooled globally, or the channels themselves.
    /// </summary>
    GeneratedModel Conv()
    {
        var name = $"C{seed}";
        var dims = Coin() ? 1 : 2;
        features.Add(dims == 1 ? "conv1d" : "conv2d");
        int[] shape = dims == 1 ? [Size(), rng.Next(6, 11)] : [Size(), rng.Next(5, 8), rng.Next(5, 8)];
        var x = new Val("x", shape, false);
        var header = $"    input x: [{string.Join(", ", shape)}]\n";
        vals.Add(x);
        var v = ConvAct(x, Size());
        var blocks = rng.Next(1, 5);
        for (int b = 0; b < blocks; b++) v = ConvBlock(v);

        // Outputs: the head of the last value, and sometimes an earlier value's channels pooled.
        Head(v);
        var side = vals.Where(o => !o.Int && o != x && !consumed.Contains(o.Name)).ToList();
        foreach (var o in side) Head(o);

        var text = new StringBuilder();
        text.Append($"model {name} {{\n").Append(header).Append(layerText).Append(body).Append("}\n");
        return new GeneratedModel(seed, name, text.ToString(), outputs, sites, features.ToList());
    }

    string ConvKind(Val v) => v.Shape.Length == 2 ? "Conv1d" : "Conv2d";

    /// <summary>A convolution of <paramref name="v"/> to <paramref name="output"/> channels; <paramref name="same"/>: the positions are kept.</summary>
    Val ConvOf(Val v, int output, bool same = false)
    {
        var smallest = v.Shape.Skip(1).Min();
        var k = same ? (Coin() ? 1 : 3) : (smallest >= 3 && Coin() ? 3 : 1);
        var padding = same ? (k - 1) / 2 : (k == 3 && Coin(3) ? 1 : 0);
        var stride = !same && smallest >= 4 && Coin(4) ? 2 : 1;
        var bias = !Coin(4);
        var args = new List<string> { v.Shape[0].ToString(CultureInfo.InvariantCulture), output.ToString(CultureInfo.InvariantCulture), k.ToString(CultureInfo.InvariantCulture) };
        if (stride != 1) { args.Add($"stride = {stride}"); features.Add("conv-stride"); }
        if (padding != 0) { args.Add($"padding = {padding}"); features.Add("conv-padding"); }
        if (!bias) { args.Add("bias = false"); features.Add("conv-nobias"); }
        var l = NewLayer("conv", ConvKind(v), v.Shape[0], output, $"{ConvKind(v)}({string.Join(", ", args)})");
        int[] shape = [output, .. v.Shape.Skip(1).Select(d => (d + 2 * padding - k) / stride + 1)];
        return Emit($"{l.Name}({Use(v)})", shape);
    }

    Val ConvAct(Val v, int output)
    {
        var a = ConvOf(v, output);
        if (Coin(4)) return a;
        var fn = Pick(ConvActivations);
        features.Add(fn);
        return Emit($"{fn}({Use(a)})", a.Shape);
    }

    Val ConvBlock(Val v)
    {
        var smallest = v.Shape.Skip(1).Min();
        switch (rng.Next(7))
        {
            case 0: case 1:
                return ConvAct(v, Size());
            case 2:   // residual: z = v + conv(σ(conv(v))), positions kept
            {
                features.Add("conv-residual");
                var a = ConvOf(v, Size(), same: true);
                var fn = Pick(ConvActivations);
                features.Add(fn);
                var h = Emit($"{fn}({Use(a)})", a.Shape);
                var r = ConvOf(h, v.Shape[0], same: true);
                return Emit($"{Use(v)} + {Use(r)}", v.Shape, "z");
            }
            case 3 when smallest >= 2:   // pooling
            {
                var op = Coin() ? "max_pool" : "avg_pool";
                features.Add(op);
                return Emit($"{op}({Use(v)}, 2)", [v.Shape[0], .. v.Shape.Skip(1).Select(d => d / 2)]);
            }
            case 4:   // two convolutions in a row (a change of basis of the channels between them)
            {
                features.Add("conv-chain");
                var a = ConvOf(v, Size(), same: true);
                return ConvOf(a, Size(), same: true);
            }
            case 5:   // v ⊙ σ(v) or v + σ(v)
            {
                var fn = Pick(ConvActivations);
                features.Add(fn);
                var w = Emit($"{fn}({Use(v)})", v.Shape);
                var op = Coin() ? "*" : "+";
                features.Add(op == "*" ? "product" : "sum");
                return Emit($"{Use(v)} {op} {Use(w)}", v.Shape);
            }
            default:
            {
                var fn = Pick(ConvActivations);
                features.Add(fn);
                return Emit($"{fn}({Use(v)})", v.Shape);
            }
        }
    }

    void Head(Val v)
    {
        var oname = $"y{outputs.Count}";
        string expr;
        switch (rng.Next(4))
        {
            case 0:   // global_avg_pool, then a Linear
            {
                features.Add("global_avg_pool");
                var g = Emit($"global_avg_pool({Use(v)})", [v.Shape[0]]);
                var head = LinearLayer(v.Shape[0], Size(), allowShare: false);
                expr = $"{head.Name}({Use(g)})";
                break;
            }
            case 1:   // flatten, then a Linear: the channels act on its columns tiled
            {
                features.Add("conv-flatten");
                var n = v.Shape.Aggregate(1, (a, d) => a * d);
                var f = Emit($"flatten({Use(v)})", [n]);
                var head = LinearLayer(n, Size(), allowShare: false);
                expr = $"{head.Name}({Use(f)})";
                break;
            }
            case 2:   // a 1×1 conv to the outputs, pooled globally
            {
                features.Add("global_avg_pool");
                var l = NewLayer("conv", ConvKind(v), v.Shape[0], 3, $"{ConvKind(v)}({v.Shape[0]}, 3, 1)");
                var c = Emit($"{l.Name}({Use(v)})", [3, .. v.Shape.Skip(1)]);
                expr = $"global_avg_pool({Use(c)})";
                break;
            }
            default:
                features.Add("output-alias");
                expr = Use(v);
                break;
        }
        body.Append($"    output {oname} = {expr}\n");
        outputs.Add(oname);
        sites.Add(oname);
    }
}
