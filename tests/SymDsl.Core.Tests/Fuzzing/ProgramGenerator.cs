using System.Globalization;
using System.Text;

namespace SymDsl.Core.Tests.Fuzzing;

/// <summary>A generated program: its text, the <c>--set</c> overrides to check it with, and whether it must check cleanly.</summary>
/// <param name="Fault">Null for a program valid by construction; otherwise the known-invalid edit that was made (it must give an error).</param>
public sealed record GeneratedProgram(string Text, IReadOnlyDictionary<string, string> Overrides, string? Fault);

/// <summary>
/// Grammar-aware generation of .sym programs that are valid by construction (every name defined before use, every
/// shape agreeing, every argument in its range), including valid-but-unusual ones: deep parenthesis nesting, long
/// operator chains, nested and large <c>for</c> unrolls, long names, unicode in comments and strings, CR LF / CR line
/// ends, trailing commas, several models and train blocks per file. With <see cref="Generate(Random, bool)"/>'s
/// <c>faulty</c> set, one known-invalid edit is made (an out-of-range or non-finite value, an undefined or duplicate
/// name, an unreadable character, a deleted bracket): the checker must report an error for it.
/// </summary>
public sealed class ProgramGenerator
{
    readonly Random rng;
    readonly StringBuilder sb = new();
    /// <summary>Places where a known-invalid text may replace the valid one: (offset, length, replacement, description).</summary>
    readonly List<(int Offset, int Length, string Text, string What)> faults = [];
    readonly Dictionary<string, string> overrides = [];
    readonly List<string> nanOverrides = [];
    int counter;
    int indent;

    ProgramGenerator(Random rng) => this.rng = rng;

    public static GeneratedProgram Generate(Random rng, bool faulty = false) => new ProgramGenerator(rng).Run(faulty);

    static readonly string[] InvalidCharacters = ["$", ";", "#", "@", "?", "!", "~", "^", "&", "|", "\\", "'", "`", "Ω", "ç", "😀", "\u0000", "\u00a0", "\ufeff", "\u2028", "\ufffd", "ß", "λ"];
    static readonly string[] CommentText = ["Ω ∀x ∃y", "ünïcödé ✓", "😀 emoji", "中文注释", "tab\there", "\"quoted\" 'single'", "$ ; # @ ~ inside a comment", "λ → μ"];

    GeneratedProgram Run(bool faulty)
    {
        var modelCount = 1 + (rng.Next(10) == 0 ? rng.Next(3) : 0);
        var modelNames = new List<string>();
        if (rng.Next(4) == 0) { Comment(); Newline(); }
        for (int m = 0; m < modelCount; m++)
        {
            var name = ModelName(modelNames);
            modelNames.Add(name);
            Model(name);
            Newline();
        }
        var text = sb.ToString();
        string? fault = null;
        if (faulty)
        {
            var choice = rng.Next(nanOverrides.Count > 0 ? 5 : 4);
            if (choice == 4)
            {
                var name = nanOverrides[rng.Next(nanOverrides.Count)];
                var bad = new[] { "NaN", "Infinity", "-Infinity", "1e999", "nan" }[rng.Next(5)];
                overrides[name] = bad;
                fault = $"--set {name}={bad}";
            }
            else if (choice == 3 || faults.Count == 0)
            {
                // An unreadable character before a token (never inside a comment or a string).
                var starts = TokenStarts(text);
                var at = starts[rng.Next(starts.Count)];
                var c = InvalidCharacters[rng.Next(InvalidCharacters.Length)];
                text = text[..at] + c + text[at..];
                fault = $"character U+{char.ConvertToUtf32(c, 0):X4} at offset {at}";
            }
            else if (choice == 2)
            {
                // Delete one bracket: the brackets of every program of the grammar balance, so this cannot parse.
                var brackets = BracketOffsets(text);
                var at = brackets[rng.Next(brackets.Count)];
                fault = $"deleted '{text[at]}' at offset {at}";
                text = text[..at] + text[(at + 1)..];
            }
            else
            {
                var (offset, length, replacement, what) = faults[rng.Next(faults.Count)];
                text = text[..offset] + replacement + text[(offset + length)..];
                fault = $"{what}: '{replacement}' at offset {offset}";
            }
        }
        var eol = rng.Next(10) switch { 0 or 1 => "\r\n", 2 => "\r", _ => "\n" };
        if (eol != "\n") text = text.Replace("\n", eol);
        return new GeneratedProgram(text, overrides, fault);
    }

    // ---------------------------------------------------------------- text

    void Put(string s) => sb.Append(s);

    /// <summary>Valid text with known-invalid alternatives at its place.</summary>
    void Alt(string valid, string what, params string[] invalid)
    {
        foreach (var bad in invalid) faults.Add((sb.Length, valid.Length, bad, what));
        sb.Append(valid);
    }

    void Newline()
    {
        if (rng.Next(12) == 0) Put($" // {CommentText[rng.Next(CommentText.Length)]}"); // a line comment: a block one could follow a line comment
        sb.Append('\n');
        if (rng.Next(15) == 0) sb.Append('\n');
        sb.Append(rng.Next(20) == 0 ? new string('\t', indent) : new string(' ', 4 * indent));
    }

    void Comment()
    {
        var text = CommentText[rng.Next(CommentText.Length)];
        if (rng.Next(2) == 0) Put($"// {text}");
        else Put($"/* {text}\n   {text} */");
    }

    void Space() => Put(rng.Next(8) switch { 0 => "  ", 1 => "\t", 2 => " /* ∑ */ ", _ => " " });

    string Fresh(string stem)
    {
        counter++;
        var name = $"{stem}{counter}";
        return rng.Next(25) switch
        {
            0 => name + "_" + new string('a', 1 + rng.Next(200)),   // long names
            1 => "_" + name,
            2 => name + "_x9",
            _ => name,
        };
    }

    string ModelName(List<string> taken)
    {
        string name;
        do name = (rng.Next(3) == 0 ? "m" : "M") + Fresh("odel"); while (taken.Any(t => string.Equals(t, name, StringComparison.OrdinalIgnoreCase)));
        return name;
    }

    static string F(double v) => v.ToString("0.0###", CultureInfo.InvariantCulture);

    // ---------------------------------------------------------------- models

    /// <summary>A value of the model: its written name (or expression) and its shape.</summary>
    sealed record Val(string Name, int[] Shape)
    {
        public bool IsVector => Shape.Length == 1;
        public int Last => Shape[^1];
    }

    sealed class ModelState
    {
        public readonly List<Val> Values = [];
        public readonly List<(string Name, string Kind)> Symmetries = [];
        public readonly List<string> Matrices = [];
        public readonly List<string> Sites = [];
        public readonly Dictionary<string, int> IntParams = [];
        public readonly List<string> FloatParams = [];
        public readonly HashSet<string> Layers = [];
        /// <summary>The C# class the model's module is generated as.</summary>
        public string ClassName = "";
    }

    void Model(string name)
    {
        var st = new ModelState { ClassName = char.ToUpperInvariant(name[0]) + name[1..] };
        // Which data the model is for decides its input and output.
        var purpose = rng.Next(4); // 0: digits (x [64] or [8, 8], 10 classes), 1: teacher (x [d], target [k]), 2-3: no train block
        Put($"model {name}");
        Params(st);
        Put(" {");
        indent++;
        Val cur;
        int outWidth;
        Newline();
        if (purpose == 0)
        {
            var seq = rng.Next(3) == 0;
            cur = Input(st, "x", seq ? [8, 8] : [64]);
            outWidth = 10;
        }
        else if (purpose == 1)
        {
            var seq = rng.Next(3) == 0;
            cur = Input(st, "x", seq ? [2, 1 + rng.Next(4)] : [1 + rng.Next(8)]);
            outWidth = 1 + rng.Next(4);
        }
        else
        {
            var kind = rng.Next(4);
            if (kind == 0)
            {
                // Token ids through an embedding.
                var t = Fresh("tok");
                var len = 1 + rng.Next(4);
                Put($"input {t}: int [{len}]");
                Newline();
                var e = Fresh("emb");
                var d = 2 * (1 + rng.Next(3));
                Layer(st, e, $"Embedding({5 + rng.Next(20)}, {Dim(st, d)}{Init()})");
                cur = Assign(st, Fresh("e"), $"{e}({t})", [len, d]);
            }
            else cur = Input(st, Fresh("in"), rng.Next(2) == 0 ? [1 + rng.Next(6)] : [1 + rng.Next(4), 2 * (1 + rng.Next(3))]);
            outWidth = 1 + rng.Next(5);
        }

        var statements = 1 + rng.Next(rng.Next(10) == 0 ? 25 : 6);
        for (int i = 0; i < statements; i++) cur = Statement(st, cur);
        cur = ToVector(st, cur);
        // The output layer.
        var lo = Fresh("head");
        Layer(st, lo, $"Linear({Dim(st, cur.Last)}, {Dim(st, outWidth)}{Bias()}{Init()})");
        var y = purpose == 0 ? "logits" : purpose == 1 ? "y" : Fresh("out");
        Put("output ");
        Alt(y, "a duplicate name", cur.Name == y ? [] : st.Values.Where(v => !v.Name.Contains('(') && !v.Name.Contains('[')).Select(v => v.Name).Take(1).ToArray());
        Put(" = ");
        Alt(lo, "an undefined layer", "no_such_layer");
        Put($"({cur.Name})");
        st.Sites.Add(y);
        if (rng.Next(5) == 0)
        {
            // A second output.
            Newline();
            var y2 = Fresh("aux");
            Put($"output {y2} = {Paren(cur.Name)}");
        }
        indent--;
        Newline();
        Put("}");
        Newline();
        if (purpose <= 1 && rng.Next(4) != 0) Train(st, name, purpose, y, outWidth);
    }

    void Params(ModelState st)
    {
        if (rng.Next(3) == 0) return; // no list: `model M {`
        Put("(");
        var n = rng.Next(4);
        for (int i = 0; i < n; i++)
        {
            if (i > 0) Put(", ");
            var p = Fresh("p");
            switch (rng.Next(4))
            {
                case 0 or 1:
                    var v = 1 + rng.Next(6);
                    if (st.IntParams.Count > 0 && rng.Next(3) == 0)
                    {
                        var (other, ov) = st.IntParams.ElementAt(rng.Next(st.IntParams.Count));
                        Put($"{p}: int = {other} + {v}");
                        v += ov;
                    }
                    else { Put($"{p}: int = "); Alt(v.ToString(CultureInfo.InvariantCulture), "an int literal that overflows", "99999999999999999999"); }
                    st.IntParams[p] = v;
                    break;
                case 2:
                    Put($"{p}: float = ");
                    Alt(F(rng.NextDouble()), "a float literal that overflows", "1e400", "1e308 * 10.0");
                    st.FloatParams.Add(p);
                    nanOverrides.Add(p);
                    break;
                default:
                    Put(rng.Next(2) == 0 ? $"{p}: bool = true" : $"{p}: string = \"ü {counter}\"");
                    break;
            }
        }
        if (n > 0 && rng.Next(4) == 0) Put(",");
        Put(")");
    }

    Val Input(ModelState st, string name, int[] shape)
    {
        Put($"input {name}: ");
        if (rng.Next(4) == 0) Put("float ");
        Put("[" + string.Join(", ", shape.Select(d => Dim(st, d))) + "]");
        Newline();
        var v = new Val(name, shape);
        st.Values.Add(v);
        return v;
    }

    /// <summary>A size: a literal, or an expression of int hyper-parameters with that value.</summary>
    string Dim(ModelState st, int value)
    {
        if (st.IntParams.Count > 0 && rng.Next(3) == 0)
        {
            var (p, v) = st.IntParams.ElementAt(rng.Next(st.IntParams.Count));
            var diff = value - v;
            return diff == 0 ? p : diff > 0 ? $"{p} + {diff}" : $"({p} - {-diff})";
        }
        if (rng.Next(10) == 0) return $"{value} * 1";
        if (rng.Next(15) == 0) return $"({value * 3} / 3)";
        return value.ToString(CultureInfo.InvariantCulture);
    }

    string Bias() => rng.Next(4) switch { 0 => ", bias = false", 1 => ", bias = true", _ => "" };

    string Init()
    {
        return rng.Next(8) switch
        {
            0 => ", init = normal(0.01)",
            1 => ", init = orthogonal()",
            2 => ", init = uniform(a = 0.1)",
            3 => ", init = zeros",
            4 => ", init = default",
            _ => "",
        };
    }

    void Layer(ModelState st, string name, string call)
    {
        Put("layer ");
        Alt(name, "a duplicate layer name", st.Layers.Take(1).ToArray());
        Put(" = ");
        // Out-of-range alternatives of the call's first numeric argument.
        var open = call.IndexOf('(');
        var comma = call.IndexOfAny([',', ')'], open);
        Put(call[..(open + 1)]);
        var first = call[(open + 1)..comma];
        if (int.TryParse(first, out _)) Alt(first, "a size that is not positive", "0", "-2", "3000000000");
        else Put(first);
        Put(call[comma..]);
        Newline();
        st.Layers.Add(name);
    }

    Val Assign(ModelState st, string name, string expr, int[] shape)
    {
        Put($"{name} = {expr}");
        Newline();
        var v = new Val(name, shape);
        st.Values.Add(v);
        st.Sites.Add(name);
        return v;
    }

    string Paren(string e)
    {
        var depth = rng.Next(20) == 0 ? rng.Next(150) : rng.Next(3) == 0 ? 1 : 0;
        return new string('(', depth) + e + new string(')', depth);
    }

    /// <summary>A reference to <paramref name="v"/>, with undefined-name alternatives.</summary>
    void PutRef(Val v)
    {
        if (v.Name.Contains('[')) { Put(v.Name); return; }
        Alt(v.Name, "an undefined name", v.Name + "_undefined", "ç" + v.Name);
    }

    Val ToVector(ModelState st, Val cur)
    {
        if (cur.IsVector) return cur;
        var fn = rng.Next(3) switch { 0 => "last", 1 => "mean", _ => "flatten" };
        var shape = fn == "flatten" ? new[] { cur.Shape.Aggregate(1, (a, b) => a * b) } : cur.Shape[1..];
        if (shape.Length > 1) return ToVector(st, Assign(st, Fresh("r"), $"{fn}({cur.Name})", shape));
        return Assign(st, Fresh("r"), $"{fn}({cur.Name})", shape);
    }

    Val Statement(ModelState st, Val cur)
    {
        switch (rng.Next(cur.IsVector ? 11 : 14))
        {
            case 0 or 1:
            {
                // Linear then an activation.
                var l = Fresh("fc");
                var width = 1 + rng.Next(6);
                Layer(st, l, $"Linear({cur.Last}, {Dim(st, width)}{Bias()}{Init()}{(rng.Next(5) == 0 ? "," : "")})");
                var act = Activation(out var extra);
                var site = Fresh("h");
                Put($"{site} = {act}({l}(");
                PutRef(cur);
                Put($"){extra})");
                Newline();
                var v = new Val(site, [.. cur.Shape[..^1], width]);
                st.Values.Add(v);
                st.Sites.Add(site);
                st.Matrices.Add($"{l}.weight");
                return v;
            }
            case 2:
            {
                var l = Fresh("ln");
                Layer(st, l, $"LayerNorm({cur.Last}" + (rng.Next(3) == 0 ? ", eps = 0.001" : "") + (rng.Next(4) == 0 ? ", affine = false" : "") + ")");
                return Assign(st, Fresh("n"), $"{l}({cur.Name})", cur.Shape);
            }
            case 3:
            {
                // A residual / elementwise combination with an earlier value of the same shape.
                var same = st.Values.Where(v => v.Shape.SequenceEqual(cur.Shape)).ToList();
                var other = same[rng.Next(same.Count)];
                var op = new[] { "+", "-", "*" }[rng.Next(3)];
                var chain = rng.Next(10) == 0 ? 1 + rng.Next(300) : 1;
                var e = new StringBuilder(cur.Name);
                for (int i = 0; i < chain; i++) e.Append($" {op} {other.Name}");
                return Assign(st, Fresh("s"), e.ToString(), cur.Shape);
            }
            case 4:
            {
                // A constant factor, possibly from a float hyper-parameter, and deep parentheses.
                var factor = st.FloatParams.Count > 0 && rng.Next(2) == 0 ? st.FloatParams[rng.Next(st.FloatParams.Count)] : F(0.5 + rng.NextDouble());
                var e = rng.Next(3) switch { 0 => $"{factor} * {Paren(cur.Name)}", 1 => $"{Paren(cur.Name)} * {factor}", _ => $"-{Paren(cur.Name)}" };
                return Assign(st, Fresh("k"), e, cur.Shape);
            }
            case 5:
            {
                // A for block: a chain of indexed layers, sometimes nested, sometimes long.
                var i = Fresh("i");
                var h = Fresh("hh");
                var f = Fresh("f");
                var d = cur.Last;
                var n = rng.Next(20) == 0 ? 50 + rng.Next(300) : 1 + rng.Next(4);
                Put($"{h}[0] = {cur.Name}");
                Newline();
                if (rng.Next(4) == 0)
                {
                    var j = Fresh("j");
                    var b = 1 + rng.Next(3);
                    var a = Math.Max(1, n / b);
                    Put($"{h}[{b}] = {h}[0]");
                    Newline();
                    Put($"for {i} in 1..{a} {{");
                    indent++; Newline();
                    Put($"for {j} in 1..{b} {{");
                    indent++; Newline();
                    Layer(st, $"{f}[{i} * {b} + {j}]", $"Linear({Dim(st, d)}, {d})");
                    Put($"{h}[{i} * {b} + {j}] = {Activation(out var extra)}({f}[{i} * {b} + {j}]({h}[{i} * {b} + {j} - 1]){extra})");
                    indent--; Newline(); Put("}");
                    indent--; Newline(); Put("}");
                    Newline();
                    var v = new Val($"{h}[{a * b + b}]", [.. cur.Shape]);
                    st.Values.Add(v);
                    return v;
                }
                Put($"for {i} in 1..{n} {{");
                indent++; Newline();
                Layer(st, $"{f}[{i}]", $"Linear({Dim(st, d)}, {d}{Bias()})");
                Put($"{h}[{i}] = {Activation(out var extra2)}({f}[{i}]({h}[{i} - 1]){extra2})");
                if (rng.Next(3) == 0)
                {
                    Newline();
                    Put($"{Fresh("sy")}[{i}] = {h}[{i}]");
                }
                indent--; Newline(); Put("}");
                Newline();
                var last = new Val($"{h}[{n}]", [.. cur.Shape]);
                st.Values.Add(last);
                if (rng.Next(4) == 0)
                {
                    // Names that differ in the IR but not once sanitised for C# (f[1] and f_1), or that name C# members.
                    var twin = new[] { $"{f}_1", "forward", "outputs", "RegisterComponents", st.ClassName }[rng.Next(5)];
                    if (st.Layers.Contains(twin)) return last;
                    Layer(st, twin, $"Linear({d}, {d})");
                    return Assign(st, Fresh("tw"), $"{twin}({last.Name})", [.. cur.Shape]);
                }
                return last;
            }
            case 6:
            {
                // The symmetric pattern: a hidden layer consumed only by the next linear map, with declared symmetries.
                var l1 = Fresh("a");
                var l2 = Fresh("b");
                var width = 2 + rng.Next(5);
                var act = new[] { "relu", "tanh" }[rng.Next(2)];
                Layer(st, l1, $"Linear({cur.Last}, {width})");
                Layer(st, l2, $"Linear({width}, {cur.Last})");
                var hidden = Fresh("hid");
                Put($"{hidden} = {act}({l1}({cur.Name}))");
                Newline();
                var next = Fresh("o");
                Put($"{next} = {l2}({hidden})");
                Newline();
                var perm = Fresh("perm");
                Put($"symmetry {perm} : permutation({hidden})");
                Newline();
                st.Symmetries.Add((perm, "permutation"));
                var second = Fresh(act == "relu" ? "scale" : "sign");
                Put($"symmetry {second} : {(act == "relu" ? "rescale" : "sign")}({hidden})");
                Newline();
                st.Symmetries.Add((second, act == "relu" ? "rescale" : "sign"));
                st.Matrices.Add($"{l1}.weight");
                st.Sites.Add(hidden);
                var v = new Val(next, [.. cur.Shape]);
                st.Values.Add(v);
                st.Sites.Add(next);
                return v;
            }
            case 7 or 8:
            {
                var act = Activation(out var extra);
                return Assign(st, Fresh("g"), $"{act}({cur.Name}{extra})", cur.Shape);
            }
            case 9:
            {
                // A name for an existing value.
                return Assign(st, Fresh("alias"), cur.Name, cur.Shape);
            }
            case 10:
            {
                if (rng.Next(2) == 0) Comment();
                Newline();
                return cur;
            }
            case 11:
            {
                // Sequences: self-attention (d divisible by heads).
                var d = cur.Last;
                var heads = Enumerable.Range(1, d).Where(h => d % h == 0).ToList();
                var l = Fresh("att");
                Layer(st, l, $"SelfAttention({Dim(st, d)}, heads = {heads[rng.Next(heads.Count)]}{(rng.Next(3) == 0 ? ", causal = true" : "")}{Bias()})");
                return Assign(st, Fresh("z"), $"{l}({cur.Name})", cur.Shape);
            }
            case 12:
            {
                // Sequences: an ODE-RNN.
                var l = Fresh("rnn");
                var hidden = 1 + rng.Next(5);
                var act = new[] { "tanh", "relu", "sigmoid", "identity", "gelu", "sin" }[rng.Next(6)];
                var integ = new[] { "euler", "rk2", "rk4" }[rng.Next(3)];
                Put("layer ");
                Alt(l, "a duplicate layer name", st.Layers.Take(1).ToArray());
                Put($" = RNN({cur.Last}, {hidden}, activation = {act}, integrator = {integ}, dt = ");
                Alt(F(0.1 + rng.NextDouble()), "dt out of range", "0", "-0.5", "1e999");
                Put(")");
                Newline();
                st.Layers.Add(l);
                return Assign(st, Fresh("q"), $"{l}({cur.Name})", [cur.Shape[0], hidden]);
            }
            default:
                return ToVector(st, cur);
        }
    }

    string Activation(out string extra)
    {
        extra = "";
        switch (rng.Next(9))
        {
            case 0: return "tanh";
            case 1: return "sigmoid";
            case 2: return "gelu";
            case 3: return "sin";
            case 4: return "identity";
            case 5: extra = ", negative_slope = 0.2"; return "leaky_relu";
            case 6: return "softmax";
            default: return "relu";
        }
    }

    // ---------------------------------------------------------------- train blocks

    void Train(ModelState st, string model, int purpose, string output, int outWidth)
    {
        Put($"train {model} {{");
        indent++;
        Newline();
        var settings = new List<Action>();
        if (purpose == 0)
        {
            settings.Add(() =>
            {
                Put("data digits(test_fraction = ");
                Alt(F(0.1 + 0.5 * rng.NextDouble()), "test_fraction out of range", "1.0", "-0.1", "1.5");
                Put(")");
            });
            settings.Add(() => Put($"loss cross_entropy({output}, label)"));
        }
        else
        {
            var inWidth = st.Values[0].Shape.Aggregate(1, (a, b) => a * b);
            settings.Add(() =>
            {
                Put($"data teacher(d_in = {inWidth}, d_out = {outWidth}, hidden = ");
                Alt((1 + rng.Next(8)).ToString(CultureInfo.InvariantCulture), "a count out of range", "0", "-1");
                Put(", samples = 64, noise = ");
                Alt(F(rng.NextDouble() * 0.1), "noise out of range", "-0.1");
                Put(")");
            });
            settings.Add(() => Put($"loss mse({output}, target)"));
        }
        settings.Add(() =>
        {
            switch (rng.Next(3))
            {
                case 0:
                    Put("optimizer sgd(lr = ");
                    Alt(F(0.001 + rng.NextDouble() * 0.1), "lr out of range", "0", "-0.1", "1e999");
                    Put(", momentum = ");
                    Alt(F(rng.NextDouble() * 0.9), "momentum out of range", "1.0", "-0.1");
                    Put(", weight_decay = ");
                    Alt("0.0001", "weight_decay out of range", "-1");
                    Put(")");
                    break;
                case 1:
                    Put("optimizer adam(lr = 0.001, beta1 = ");
                    Alt("0.9", "beta1 out of range", "1", "1.5");
                    Put(", beta2 = ");
                    Alt("0.999", "beta2 out of range", "1.0", "-0.5");
                    Put(")");
                    break;
                default:
                    Put("optimizer adamw");
                    break;
            }
        });
        if (rng.Next(2) == 0)
            settings.Add(() =>
            {
                switch (rng.Next(4))
                {
                    case 0: Put("schedule cosine(min_lr = "); Alt("0.0", "min_lr out of range", "-0.1"); Put(")"); break;
                    case 1: Put("schedule step(every = "); Alt("10", "every out of range", "0"); Put(", gamma = "); Alt("0.5", "gamma out of range", "0", "-1"); Put(")"); break;
                    case 2: Put("schedule warmup(steps = "); Alt("5", "steps out of range", "0", "-5"); Put(")"); break;
                    default: Put("schedule constant"); break;
                }
            });
        if (rng.Next(2) == 0) settings.Add(() => { Put("batch "); Alt((1 + rng.Next(64)).ToString(CultureInfo.InvariantCulture), "batch out of range", "0", "-4"); });
        if (rng.Next(2) == 0) settings.Add(() => { Put("epochs "); Alt((1 + rng.Next(5)).ToString(CultureInfo.InvariantCulture), "epochs out of range", "0"); });
        else if (rng.Next(2) == 0) settings.Add(() => { Put("steps "); Alt((1 + rng.Next(50)).ToString(CultureInfo.InvariantCulture), "steps out of range", "0", "-1"); });
        if (rng.Next(2) == 0) settings.Add(() => Put($"seed {rng.Next(100)}"));
        if (rng.Next(3) == 0) settings.Add(() => { Put("log every "); Alt("5", "log every out of range", "0"); Put(" steps"); });
        if (rng.Next(3) == 0) settings.Add(() => { Put("checkpoint every "); Alt("20", "checkpoint every out of range", "0", "-1"); Put(" steps"); });
        if (st.Symmetries.Count > 0 && rng.Next(2) == 0)
            settings.Add(() =>
            {
                var (sym, kind) = st.Symmetries[rng.Next(st.Symmetries.Count)];
                var method = kind == "permutation" && rng.Next(2) == 0 ? "perturb" : "syre";
                Put($"break {method}(sigma = ");
                Alt("0.1", "sigma out of range", "-0.1");
                Put($") on {sym}");
            });
        if (rng.Next(2) == 0)
            settings.Add(() =>
            {
                var metrics = new List<string>();
                foreach (var (sym, kind) in st.Symmetries.Take(2))
                    metrics.Add(kind == "permutation" ? $"duplicates({sym}, threshold = 0.9)" : kind is "rescale" or "sign" ? $"collapse({sym})" : "");
                if (st.Sites.Count > 0) metrics.Add($"rank({st.Sites[rng.Next(st.Sites.Count)]})");
                if (st.Matrices.Count > 0) metrics.Add($"rank({st.Matrices[rng.Next(st.Matrices.Count)]})");
                metrics.RemoveAll(m => m.Length == 0);
                if (metrics.Count == 0) metrics.Add($"rank({output})");
                Put("diagnose " + string.Join(", ", metrics) + " every ");
                Alt((1 + rng.Next(10)).ToString(CultureInfo.InvariantCulture), "diagnose every out of range", "0", "-3");
                Put(" steps");
            });
        if (st.Matrices.Count > 0 && rng.Next(4) == 0)
            settings.Add(() => Put($"induce {(rng.Next(2) == 0 ? "sparsity" : "lowrank")} on {st.Matrices[rng.Next(st.Matrices.Count)]}"));
        // Settings in any order.
        foreach (var s in settings.OrderBy(_ => rng.Next()))
        {
            s();
            Newline();
        }
        indent--;
        Put("}");
        Newline();
    }

    // ---------------------------------------------------------------- token positions

    /// <summary>Offsets at which a default-channel token starts (never inside a comment or string).</summary>
    static List<int> TokenStarts(string text)
    {
        var lexer = new Grammar.SymLexer(new Antlr4.Runtime.AntlrInputStream(text));
        lexer.RemoveErrorListeners();
        return lexer.GetAllTokens().Where(t => t.Channel == 0).Select(t => t.StartIndex).Append(text.Length).ToList();
    }

    static List<int> BracketOffsets(string text)
    {
        var lexer = new Grammar.SymLexer(new Antlr4.Runtime.AntlrInputStream(text));
        lexer.RemoveErrorListeners();
        return lexer.GetAllTokens().Where(t => t.Channel == 0 && t.Text is "(" or ")" or "[" or "]" or "{" or "}").Select(t => t.StartIndex).ToList();
    }
}
