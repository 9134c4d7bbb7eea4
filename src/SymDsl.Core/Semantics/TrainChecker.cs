using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Syntax;
using SymDsl.Text;

namespace SymDsl.Semantics;

/// <summary>
/// A field a data source yields: its per-example shape (null when only known at run time) and, for labels, the class count.
/// <see cref="IsTarget"/> marks a real-valued regression target (teacher's and lowrank_regression's <c>target</c>);
/// <see cref="TokenIds"/> an integer field that is a model input, not a label (text's <c>tokens</c>).
/// </summary>
public sealed record DataField(string Name, IReadOnlyList<int>? Shape, ElementType Type, int? Classes, bool IsTarget = false)
{
    /// <summary>Integer token ids read by a model input (an <c>Embedding</c>), not a class label.</summary>
    public bool TokenIds { get; init; }
    public bool IsLabel => Type == ElementType.Int64 && !TokenIds;
    /// <summary>A feature: what model inputs bind to (neither a class label nor a regression target).</summary>
    public bool IsFeature => !IsLabel && !IsTarget;
}

/// <summary>The catalog of train-block vocabulary: data sources, losses, optimizers, schedules, break methods, metrics, induces.</summary>
public static class TrainCatalog
{
    static Value F(double v) => new Value.Float(v);
    static Value I(long v) => new Value.Int(v);
    static Value S(string v) => new Value.Str(v);

    /// <summary>Data sources (defined in <see cref="Vocabulary.DataSourceDefinitions"/>) and their arguments.</summary>
    public static readonly IReadOnlyDictionary<string, ArgSpec[]> DataSources = Vocabulary.DataSourceDefinitions.All.ToDictionary(d => d.Name, d => d.Arguments.ToArray());

    static ArgSpec Lr(double value) => new("lr", ArgType.Float, F(value), Range: Domain.Positive);
    static ArgSpec WeightDecay(double value) => new("weight_decay", ArgType.Float, F(value), Range: Domain.NonNegative);
    static ArgSpec Beta(string name, double value) => new(name, ArgType.Float, F(value), Range: Domain.UnitInterval);

    /// <summary>The fields <paramref name="kind"/> yields with the bound arguments <paramref name="a"/>.</summary>
    public static IReadOnlyList<DataField> Fields(string kind, IReadOnlyDictionary<string, Value> a)
    {
        var definition = Vocabulary.DataSourceDefinitions.Get(kind);
        return definition.Fields(definition.Bind(a));
    }

    public static readonly string[] Losses = Vocabulary.Losses.Names.ToArray();

    public static readonly Dictionary<string, ArgSpec[]> Optimizers = new()
    {
        ["sgd"] = [Lr(0.01), new("momentum", ArgType.Float, F(0.0), Range: Domain.UnitInterval), WeightDecay(0.0), new("nesterov", ArgType.Bool, new Value.Bool(false))],
        ["adam"] = [Lr(0.001), WeightDecay(0.0), Beta("beta1", 0.9), Beta("beta2", 0.999), Eps()],
        ["adamw"] = [Lr(0.001), WeightDecay(0.01), Beta("beta1", 0.9), Beta("beta2", 0.999), Eps()],
    };

    public static readonly Dictionary<string, ArgSpec[]> Schedules = new()
    {
        ["constant"] = [Warmup()],
        ["step"] = [ArgSpec.Req("every", ArgType.Int, Domain.Count), new("gamma", ArgType.Float, F(0.1), Range: Domain.Positive), Warmup()],
        ["cosine"] = [new("min_lr", ArgType.Float, F(0.0), Range: Domain.NonNegative), Warmup()],
        ["warmup"] = [ArgSpec.Req("steps", ArgType.Int, Domain.Count)],
    };

    /// <summary>A linear warm-up over the first N steps, multiplying any schedule (whose own clock starts after it).</summary>
    static ArgSpec Warmup() => new("warmup", ArgType.Int, I(0), Range: Domain.Index);
    /// <summary>Adam's ε, added to the root of the second moment.</summary>
    static ArgSpec Eps() => new("eps", ArgType.Float, F(1e-8), Range: Domain.Positive);

    /// <summary>Break methods (defined in <see cref="Vocabulary.Regularizers"/>), their arguments, and the symmetry kinds each accepts (null: any).</summary>
    public static readonly IReadOnlyDictionary<string, (ArgSpec[] Args, SymmetryKind[]? Kinds)> BreakMethods =
        Vocabulary.Regularizers.All.ToDictionary(r => r.Name, r => (r.Arguments.ToArray(), r.Kinds?.ToArray()));

    /// <summary>Metrics (defined in <see cref="Vocabulary.Metrics"/>): arguments, target kinds, and for symmetries the kinds.</summary>
    public static readonly IReadOnlyDictionary<string, (ArgSpec[] Args, string[] Targets, SymmetryKind[]? Kinds)> Metrics =
        Vocabulary.Metrics.All.ToDictionary(m => m.Name, m => (m.Arguments.ToArray(), m.Targets.Select(Vocabulary.MetricTargets.Spell).ToArray(), m.Kinds?.ToArray()));

    /// <summary>Induce structures and their arguments: lowrank's <c>rank</c> (default: full, min(m, n)) at most min(m, n).</summary>
    public static readonly Dictionary<string, ArgSpec[]> Induces = new()
    {
        ["sparsity"] = [],
        ["lowrank"] = [new("rank", ArgType.Int, Range: Domain.Count)],
    };

    public static readonly string[] Settings = ["data", "loss", "optimizer", "schedule", "batch", "epochs", "steps", "seed", "log", "checkpoint"];
}

/// <summary>Checks a <c>train MODEL { … }</c> block against its checked model and produces its <see cref="TrainIR"/>.</summary>
public sealed class TrainChecker(TrainDecl decl, ModelIR model, string baseDir, List<Diagnostic> diagnostics)
{
    readonly Constants constants = new(model.HyperParameters, diagnostics);

    /// <summary>The symmetries of this block once its loss is bound (the model's plus those its loss adds); by default the model's.</summary>
    public Func<LossIR?, IReadOnlyList<SymmetryIR>>? BlockSymmetries { get; init; }

    IReadOnlyList<SymmetryIR> symmetries = model.Symmetries;

    public TrainIR? Check()
    {
        var errorsBefore = Errors();
        var settings = new Dictionary<string, SettingStmt>();
        foreach (var s in decl.Body.OfType<SettingStmt>())
        {
            var key = s.Key.Text;
            if (!TrainCatalog.Settings.Contains(key)) { diagnostics.Add(DiagnosticCatalog.UnknownSetting(s.Key.Span, key, Names.Suggest(key, TrainCatalog.Settings))); continue; }
            if (!settings.TryAdd(key, s)) diagnostics.Add(DiagnosticCatalog.DuplicateSetting(s.Key.Span, key));
        }

        DataIR? data = null; IReadOnlyList<DataField> fields = []; IReadOnlyDictionary<string, string> bindings = new Dictionary<string, string>();
        if (Required(settings, "data") is { } ds && Call(ds, "a data source such as digits(test_fraction = 0.2)") is var (kind, kindSpan, args))
        {
            if (Vocabulary.DataSourceDefinitions.Find(kind) is not { } source)
                diagnostics.Add(DiagnosticCatalog.UnknownDataSource(kindSpan, kind, Names.Suggest(kind, Vocabulary.DataSourceDefinitions.Names)));
            else if (ArgBinder.Bind(kind, source.Arguments, args, constants, diagnostics, ds.Span, baseDir, OutOfRange) is { } bound && DataArgsOk(kind, bound, ds.Span))
            {
                data = new DataIR(kind, bound, ds.Span);
                fields = TrainCatalog.Fields(kind, bound);
                bindings = BindInputs(kind, fields);
            }
        }

        LossIR? loss = null;
        if (Required(settings, "loss") is { } ls) loss = Loss(ls, data, fields);
        if (BlockSymmetries is not null) symmetries = BlockSymmetries(loss);

        OptimizerIR? optimizer = null;
        if (Required(settings, "optimizer") is { } os && Call(os, "an optimizer such as sgd(lr = 0.05)") is var (okind, ospan, oargs))
        {
            if (!TrainCatalog.Optimizers.TryGetValue(okind, out var sig))
                diagnostics.Add(DiagnosticCatalog.UnknownOptimizer(ospan, okind, Names.Suggest(okind, TrainCatalog.Optimizers.Keys)));
            else if (ArgBinder.Bind(okind, sig, oargs, constants, diagnostics, os.Span, outOfRange: OutOfRange) is { } bound && OptimizerArgsOk(okind, bound, os.Span))
                optimizer = new OptimizerIR(okind, bound, os.Span);
        }

        ScheduleIR? schedule = null;
        if (settings.TryGetValue("schedule", out var ss) && Call(ss, "a schedule such as cosine(min_lr = 0.0)") is var (skind, sspan, sargs))
        {
            if (!TrainCatalog.Schedules.TryGetValue(skind, out var sig))
                diagnostics.Add(DiagnosticCatalog.UnknownSchedule(sspan, skind, Names.Suggest(skind, TrainCatalog.Schedules.Keys)));
            else if (ArgBinder.Bind(skind, sig, sargs, constants, diagnostics, ss.Span, outOfRange: OutOfRange) is { } bound)
                schedule = new ScheduleIR(skind, bound, ss.Span);
        }

        var batch = PositiveInt(settings, "batch", 32);
        int? epochs = settings.ContainsKey("epochs") ? PositiveInt(settings, "epochs", 1) : null;
        int? steps = settings.ContainsKey("steps") ? PositiveInt(settings, "steps", 1) : null;
        if (epochs is null && steps is null) epochs = 10;
        long seed = 0;
        if (settings.TryGetValue("seed", out var seedStmt) && NoEvery(seedStmt) && Value(seedStmt) is { } se && constants.EvalInt(se, "seed") is { } sv) seed = sv;
        var logEvery = EveryInt(settings, "log") ?? 10;
        var checkpointEvery = EveryInt(settings, "checkpoint");

        var breaks = decl.Body.OfType<BreakStmt>().Select(Break).Where(b => b is not null).Cast<BreakIR>().ToList();
        var diags = new List<DiagnoseIR>();
        foreach (var d in decl.Body.OfType<DiagnoseStmt>()) diags.AddRange(Diagnose(d, logEvery));
        var induces = decl.Body.OfType<InduceStmt>().Select(Induce).Where(i => i is not null).Cast<InduceIR>().ToList();
        var teleported = new HashSet<string>();
        var teleports = decl.Body.OfType<TeleportStmt>().Select(t => Teleport(t, teleported)).Where(t => t is not null).Cast<TeleportIR>().ToList();

        if (Errors() > errorsBefore || data is null || loss is null || optimizer is null) return null;
        return new TrainIR(model.Name, data, loss, optimizer, schedule, batch, epochs, steps, seed, logEvery, checkpointEvery, breaks, diags, induces, decl.Span)
        {
            Symmetries = symmetries,
            Name = decl.Name?.Text ?? model.Name,
            Named = decl.Name is not null,
            InputBindings = bindings,
            Teleports = teleports,
        };
    }

    int Errors() => diagnostics.Count(d => d.Level == DiagnosticLevel.Error);

    /// <summary>A train-block argument outside its range is a train-setting error.</summary>
    static readonly Func<SourceSpan, string, string, string, Diagnostic> OutOfRange = DiagnosticCatalog.SettingOutOfRange;

    SettingStmt? Required(Dictionary<string, SettingStmt> settings, string key)
    {
        if (settings.TryGetValue(key, out var s)) return NoEvery(s) ? s : null;
        diagnostics.Add(DiagnosticCatalog.MissingSetting(decl.Model.Span, key, model.Name));
        return null;
    }

    bool NoEvery(SettingStmt s)
    {
        if (s.Every is null) return true;
        diagnostics.Add(DiagnosticCatalog.SettingTakesNoEvery(s.Span, s.Key.Text));
        return false;
    }

    Expr? Value(SettingStmt s)
    {
        if (s.Value is not null) return s.Value;
        diagnostics.Add(DiagnosticCatalog.SettingNeedsValue(s.Span, s.Key.Text));
        return null;
    }

    (string Kind, SourceSpan Span, IReadOnlyList<Argument> Args)? Call(SettingStmt s, string expected)
    {
        switch (s.Value)
        {
            case NameExpr n: return (n.Name, n.Span, []);
            case CallExpr { Callee: NameExpr cn } c: return (cn.Name, cn.Span, c.Arguments);
            case null: diagnostics.Add(DiagnosticCatalog.SettingNeedsValue(s.Span, s.Key.Text, expected)); return null;
            case ErrorExpr: return null;
            default: diagnostics.Add(DiagnosticCatalog.SettingExpects(s.Value.Span, s.Key.Text, expected)); return null;
        }
    }

    int PositiveInt(Dictionary<string, SettingStmt> settings, string key, int fallback)
    {
        if (!settings.TryGetValue(key, out var s) || !NoEvery(s) || Value(s) is not { } e) return fallback;
        var v = constants.EvalInt(e, $"'{key}'");
        if (v is null) return fallback;
        if (v <= 0 || v > int.MaxValue) { diagnostics.Add(DiagnosticCatalog.NotAPositiveInt(e.Span, $"'{key}'", v.Value)); return fallback; }
        return (int)v.Value;
    }

    /// <summary><c>log every 10 steps</c> (or <c>log 10</c>).</summary>
    int? EveryInt(Dictionary<string, SettingStmt> settings, string key)
    {
        if (!settings.TryGetValue(key, out var s)) return null;
        var e = s.Every ?? s.Value;
        if (s.Every is not null && s.Value is not null) { diagnostics.Add(DiagnosticCatalog.EveryClauseExpected(s.Span, key)); return null; }
        if (e is null) { diagnostics.Add(DiagnosticCatalog.EveryClauseExpected(s.Span, key)); return null; }
        if (s.Unit is not null && !StepsUnit(s.Unit)) return null;
        var v = constants.EvalInt(e, $"'{key} every'");
        if (v is null) return null;
        if (v <= 0 || v > int.MaxValue) { diagnostics.Add(DiagnosticCatalog.NotAPositiveInt(e.Span, $"'{key} every'", v.Value)); return null; }
        return (int)v.Value;
    }

    bool StepsUnit(Identifier unit)
    {
        if (unit.Text is "steps" or "step") return true;
        diagnostics.Add(DiagnosticCatalog.UnknownUnit(unit.Span, unit.Text));
        return false;
    }

    bool DataArgsOk(string kind, Dictionary<string, Value> a, SourceSpan span)
    {
        // Each argument's own range is checked by ArgBinder; only relations between arguments remain (the source's definition says them).
        var source = Vocabulary.DataSourceDefinitions.Get(kind);
        if (source.Relations(source.Bind(a)) is { } why)
        { diagnostics.Add(DiagnosticCatalog.DataArgumentRelation(span, kind, why)); return false; }
        return true;
    }

    bool OptimizerArgsOk(string kind, Dictionary<string, Value> a, SourceSpan span)
    {
        // As for data sources: ranges are the binder's; the relation nesterov → momentum > 0 is checked here (libtorch would throw).
        if (kind == "sgd" && a["nesterov"].AsBool() && a["momentum"].AsDouble() == 0)
        { diagnostics.Add(DiagnosticCatalog.NesterovWithoutMomentum(span)); return false; }
        return true;
    }

    static long Entries(IReadOnlyList<int> shape) => shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>
    /// Binds every model input to a feature field of the data (see <see cref="TrainIR.InputBindings"/>) and checks type and
    /// shape. An input named like a field of the data binds to that field. Otherwise, when the model has exactly one input and
    /// the data exactly one feature field, they bind whatever their names (<c>input img: [784]</c> reads idx's <c>x</c>);
    /// several inputs bind by name only. Returns input → field for the inputs that bound.
    /// </summary>
    Dictionary<string, string> BindInputs(string kind, IReadOnlyList<DataField> fields)
    {
        var bindings = new Dictionary<string, string>();
        var features = fields.Where(x => x.IsFeature).ToList();
        foreach (var input in model.Inputs)
        {
            var f = fields.FirstOrDefault(x => x.Name == input.Name);
            if (f is null && model.Inputs.Count == 1 && features.Count == 1) f = features[0];
            if (f is null)
            {
                var several = model.Inputs.Count > 1
                    ? $"model '{model.Name}' has {model.Inputs.Count} inputs, and several inputs bind to data fields by name"
                    : $"{kind} gives {features.Count} feature fields, and the input binds to one by name";
                diagnostics.Add(DiagnosticCatalog.InputBinding(input.Span, $"input '{input.Name}' has no field of that name in data source '{kind}' (its fields: {string.Join(", ", fields.Select(x => x.Name))}); {several}"));
                continue;
            }
            if (!f.IsFeature)
            {
                diagnostics.Add(DiagnosticCatalog.InputBinding(input.Span, $"input '{input.Name}' of model '{model.Name}' binds to the data field of the same name, but {kind} gives the input field{(features.Count == 1 ? "" : "s")} {string.Join(", ", features.Select(x => x.Name))}"));
                continue;
            }
            bindings[input.Name] = f.Name;
            if (input.Type != f.Type)
                diagnostics.Add(DiagnosticCatalog.InputBinding(input.Span, $"input '{input.Name}' is {input.Type}, but {kind}'s field '{f.Name}' is {f.Type}"));
            // A field is read in the input's shape when the entry counts agree (digits' [64] as [8, 8] rows for an RNN);
            // a field whose shape is known only at run time (csv) is checked there.
            else if (f.Shape is not null && !f.Shape.SequenceEqual(input.Shape) && Entries(f.Shape) != Entries(input.Shape))
                diagnostics.Add(DiagnosticCatalog.InputBinding(input.Span, $"input '{input.Name}' has shape {Names.Shape(input.Shape)} ({Entries(input.Shape)} entries), but {kind}'s field '{f.Name}' has shape {Names.Shape(f.Shape)} ({Entries(f.Shape)} entries)"));
        }
        return bindings;
    }

    LossIR? Loss(SettingStmt s, DataIR? data, IReadOnlyList<DataField> fields)
    {
        if (Call(s, "a loss such as cross_entropy(logits, label)") is not var (kind, span, args)) return null;
        if (Vocabulary.Losses.Find(kind) is not { } definition) { diagnostics.Add(DiagnosticCatalog.UnknownLoss(span, kind, Names.Suggest(kind, TrainCatalog.Losses))); return null; }
        if (args.Count != 2 || args.Any(a => a.Value is not NameExpr) || args.Any(a => a.Name is not null))
        {
            diagnostics.Add(DiagnosticCatalog.LossArguments(s.Value!.Span, kind, definition.Example));
            return null;
        }
        var output = ((NameExpr)args[0].Value).Name;
        var target = ((NameExpr)args[1].Value).Name;
        var o = model.Outputs.FirstOrDefault(x => x.Name == output);
        var ok = true;
        if (o is null)
        {
            diagnostics.Add(DiagnosticCatalog.LossOutput(args[0].Span, output, model.Name, Names.Suggest(output, model.Outputs.Select(x => x.Name))));
            ok = false;
        }
        if (data is null) return null;
        var f = fields.FirstOrDefault(x => x.Name == target);
        if (f is null)
        {
            diagnostics.Add(DiagnosticCatalog.LossTarget(args[1].Span, target, data.Kind, string.Join(", ", fields.Select(x => x.Name))));
            return null;
        }
        if (!ok) return null;
        var shape = model.Node(o!.Node).Shape;
        if (definition.NeedsLabels)
        {
            if (!f.IsLabel) { diagnostics.Add(DiagnosticCatalog.LossShape(args[1].Span, $"{kind} needs a class label field, but '{target}' of {data.Kind} is a real-valued target; use mse")); return null; }
            // A label of shape [] takes logits [classes]; a label of shape [N] (text's next) takes logits [N, classes], one per position.
            var positions = f.Shape ?? [];
            var needed = positions.Count == 0 ? "[classes]" : $"{Names.Shape(positions)[..^1]}, classes]";
            if (shape.Count != positions.Count + 1 || !shape.Take(positions.Count).SequenceEqual(positions))
            {
                var against = positions.Count == 0 ? "" : $" against '{target}' of shape {Names.Shape(positions)}";
                diagnostics.Add(DiagnosticCatalog.LossShape(args[0].Span, $"{kind}{against} needs logits of shape {needed}, but '{output}' has shape {Names.Shape(shape)}"));
                return null;
            }
            if (f.Classes is { } c && shape[^1] != c) { diagnostics.Add(DiagnosticCatalog.LossShape(args[0].Span, $"{data.Kind} has {c} classes, but '{output}' has shape {Names.Shape(shape)}")); return null; }
        }
        else
        {
            if (f.IsLabel) { diagnostics.Add(DiagnosticCatalog.LossShape(args[1].Span, $"{kind} needs a real-valued target field, but '{target}' of {data.Kind} is a class label; use cross_entropy")); return null; }
            if (f.Shape is not null && !f.Shape.SequenceEqual(shape)) { diagnostics.Add(DiagnosticCatalog.LossShape(args[0].Span, $"{kind} compares '{output}' of shape {Names.Shape(shape)} with '{target}' of shape {Names.Shape(f.Shape)}")); return null; }
        }
        return new LossIR(kind, output, target, s.Span);
    }

    SymmetryIR? DeclaredSymmetry(string name) => symmetries.FirstOrDefault(x => x.Name == name);

    BreakIR? Break(BreakStmt b)
    {
        var method = b.Method.Callee.Text;
        if (Vocabulary.Regularizers.Find(method) is not { } spec)
        {
            diagnostics.Add(DiagnosticCatalog.UnknownBreakMethod(b.Method.Callee.Span, method, Names.Suggest(method, Vocabulary.Regularizers.Names)));
            return null;
        }
        var args = ArgBinder.Bind(method, spec.Arguments, b.Method.Arguments, constants, diagnostics, b.Method.Span, outOfRange: OutOfRange);
        if (args is null) return null;
        var syms = new List<SymmetryIR>();
        foreach (var written in b.Symmetries)
        {
            string? text = "";
            foreach (var part in written.Qualifier.Append(written))
            {
                var spelled = part.Index is null ? part.Name.Text
                    : constants.EvalInt(part.Index, $"the index of '{part.Name.Text}'") is { } ix ? $"{part.Name.Text}[{ix}]" : null;
                if (spelled is null) return null;
                text += (text.Length == 0 ? "" : ".") + spelled;
            }
            var id = new Identifier(text, written.Span);
            var sym = DeclaredSymmetry(id.Text);
            if (sym is null || !sym.Declared)
            {
                diagnostics.Add(DiagnosticCatalog.NotADeclaredSymmetry(id.Span, id.Text, model.Name, Names.Suggest(id.Text, symmetries.Where(x => x.Declared).Select(x => x.Name))));
                continue;
            }
            if (!spec.Accepts(sym.Kind) && spec.Kinds is { } kinds)
            {
                diagnostics.Add(DiagnosticCatalog.BreakKindMismatch(id.Span, method, kinds.Select(k => k.ToString().ToLowerInvariant()), id.Text, SymmetryInferenceSpell(sym)));
                continue;
            }
            syms.Add(sym);
        }
        if (syms.Count != b.Symmetries.Count) return null;
        return new BreakIR(method, args, syms.Select(s => s.Name).ToList(), syms.SelectMany(s => s.Parameters).Distinct().ToList(), b.Span);
    }

    static string SymmetryInferenceSpell(SymmetryIR s) => Symmetries.SymmetryInference.Spell(s.Kind, s.Target);

    IEnumerable<DiagnoseIR> Diagnose(DiagnoseStmt d, int logEvery)
    {
        var every = logEvery;
        if (d.Every is not null)
        {
            if (d.Unit is not null && !StepsUnit(d.Unit)) yield break;
            var v = constants.EvalInt(d.Every, "'every'");
            if (v is null) yield break;
            if (v <= 0 || v > int.MaxValue) { diagnostics.Add(DiagnosticCatalog.NotAPositiveInt(d.Every.Span, "'every'", v.Value)); yield break; }
            every = (int)v.Value;
        }
        foreach (var call in d.Metrics)
        {
            var metric = call.Callee.Text;
            if (Vocabulary.Metrics.Find(metric) is not { } spec)
            {
                diagnostics.Add(DiagnosticCatalog.UnknownMetric(call.Callee.Span, metric, Names.Suggest(metric, Vocabulary.Metrics.Names)));
                continue;
            }
            var positional = call.Arguments.Where(a => a.Name is null).ToList();
            if (positional.Count != 1)
            {
                diagnostics.Add(DiagnosticCatalog.MetricTargetCount(call.Span, metric, spec.TargetsSpelled));
                continue;
            }
            var args = ArgBinder.Bind(metric, spec.Arguments, call.Arguments.Where(a => a.Name is not null).ToList(), constants, diagnostics, call.Span, outOfRange: OutOfRange);
            var target = ModelBuilder.TargetName(positional[0].Value, constants);
            if (args is null || target is null) continue;
            var kind = Resolve(target);
            if (kind is null)
            {
                var candidates = symmetries.Where(s => s.Declared).Select(s => s.Name)
                    .Concat(model.Nodes.Where(n => n.Site is not null).Select(n => n.Site!)).Concat(model.Parameters.Select(p => p.Name));
                diagnostics.Add(DiagnosticCatalog.UndefinedName(positional[0].Span, target, Names.Suggest(target, candidates)));
                continue;
            }
            if (!spec.Accepts(Vocabulary.Metrics.ParseTarget(kind)))
            {
                diagnostics.Add(DiagnosticCatalog.MetricTargetKind(positional[0].Span, metric, spec.TargetsSpelled, target, kind));
                continue;
            }
            if (kind == "symmetry" && spec.Kinds is { } kinds && !kinds.Contains(DeclaredSymmetry(target)!.Kind))
            {
                diagnostics.Add(DiagnosticCatalog.MetricSymmetryKind(positional[0].Span, metric, kinds.Select(k => k.ToString().ToLowerInvariant()), target, SymmetryInferenceSpell(DeclaredSymmetry(target)!)));
                continue;
            }
            if (kind == "parameter" && model.Parameters.First(p => p.Name == target).Shape.Count != 2)
            {
                diagnostics.Add(DiagnosticCatalog.MetricNeedsMatrix(positional[0].Span, metric, target, Names.Shape(model.Parameters.First(p => p.Name == target).Shape)));
                continue;
            }
            yield return new DiagnoseIR(metric, [target], [kind], args, every, call.Span);
        }
    }

    string? Resolve(string target)
    {
        if (symmetries.Any(s => s.Declared && s.Name == target)) return "symmetry";
        if (model.Site(target) is { Op: not OpKind.Input }) return "site";
        if (model.Parameters.Any(p => p.Name == target)) return "parameter";
        return null;
    }

    /// <summary>
    /// <c>teleport G, … every N steps</c>: each G is <c>KIND(SITE)</c> or a symmetry's name, and must be a symmetry the
    /// compiler inferred for this block (its loss included) of a continuous kind whose orbits keep the loss exactly.
    /// </summary>
    TeleportIR? Teleport(TeleportStmt t, HashSet<string> seen)
    {
        var ok = true;
        int every = 0;
        if (t.Every is null || t.Unit is null || t.Unit.Text is not ("steps" or "step")) { diagnostics.Add(DiagnosticCatalog.TeleportNeedsEvery(t.Unit?.Span ?? t.Span)); ok = false; }
        else if (constants.EvalInt(t.Every, "'teleport every'") is not { } v) ok = false;
        else if (v < 1 || v > int.MaxValue) { diagnostics.Add(DiagnosticCatalog.TeleportEveryNotPositive(t.Every.Span, v)); ok = false; }
        else every = (int)v;
        var names = new List<string>();
        var groups = new List<string>();
        foreach (var g in t.Groups)
        {
            if (TeleportGroup(g) is not { } sym) { ok = false; continue; }
            var spelled = SymmetryInferenceSpell(sym);
            if (!seen.Add(sym.Name)) { diagnostics.Add(DiagnosticCatalog.TeleportDuplicateGroup(g.Span, spelled)); ok = false; continue; }
            names.Add(sym.Name);
            groups.Add(spelled);
        }
        return ok ? new TeleportIR(names, groups, every, t.Span) : null;
    }

    SymmetryIR? TeleportGroup(CallSyntax g)
    {
        var block = decl.Name?.Text ?? model.Name;
        SymmetryIR? sym;
        string written;
        if (g.Arguments.Count == 0 && g.Span.Equals(g.Callee.Span))
        {
            // A bare name: a symmetry of this block by its name (declared, or "kind(site)" when only inferred).
            written = g.Callee.Text;
            sym = symmetries.FirstOrDefault(s => s.Name == written);
            if (sym is null)
            {
                diagnostics.Add(DiagnosticCatalog.TeleportNotInferred(g.Span, $"'{written}'", block, Names.Suggest(written, symmetries.Select(s => s.Name))));
                return null;
            }
        }
        else
        {
            var kindText = g.Callee.Text;
            if (Symmetries.SymmetryInference.ParseKind(kindText) is not { } kind)
            {
                diagnostics.Add(DiagnosticCatalog.TeleportGroupSyntax(g.Callee.Span, kindText, Names.Suggest(kindText, Symmetries.SymmetryInference.KindNames)));
                return null;
            }
            if (g.Arguments.Count != 1 || g.Arguments[0].Name is not null)
            {
                diagnostics.Add(DiagnosticCatalog.TeleportGroupSyntax(g.Span, $"{kindText}(…)", null));
                return null;
            }
            var site = ModelBuilder.TargetName(g.Arguments[0].Value, constants);
            if (site is null) return null;
            written = Symmetries.SymmetryInference.Spell(kind, site);
            sym = symmetries.FirstOrDefault(s => s.Kind == kind && s.Target == site);
            if (sym is null)
            {
                var suggestion = Names.Suggest(written, symmetries.Where(s => s.Inferred).Select(SymmetryInferenceSpell));
                diagnostics.Add(DiagnosticCatalog.TeleportNotInferred(g.Span, written, block, suggestion));
                return null;
            }
        }
        var spelled = SymmetryInferenceSpell(sym);
        if (!sym.Inferred)
        {
            diagnostics.Add(DiagnosticCatalog.TeleportNotInferred(g.Span, $"{spelled} (declared, but not proved)", block, null));
            return null;
        }
        switch (sym.Kind)
        {
            case SymmetryKind.Permutation or SymmetryKind.Sign:
                diagnostics.Add(DiagnosticCatalog.TeleportNeedsContinuousGroup(g.Span, spelled, sym.Kind.ToString().ToLowerInvariant()));
                return null;
            case SymmetryKind.Translation:
                diagnostics.Add(DiagnosticCatalog.TeleportUnsupportedGroup(g.Span, spelled, "a translation moves the gradient with it unchanged, so every point of its orbit has the same gradient norm"));
                return null;
        }
        if (!sym.Exact)
        {
            diagnostics.Add(DiagnosticCatalog.TeleportUnsupportedGroup(g.Span, spelled, "it holds only approximately (a normalisation's eps), so moving along it would change the loss"));
            return null;
        }
        return sym;
    }

    InduceIR? Induce(InduceStmt s)
    {
        var structure = s.Structure.Text;
        if (!TrainCatalog.Induces.TryGetValue(structure, out var signature))
        {
            diagnostics.Add(DiagnosticCatalog.UnknownInduce(s.Structure.Span, structure, Names.Suggest(structure, TrainCatalog.Induces.Keys)));
            return null;
        }
        if (ArgBinder.Bind($"induce {structure}", signature, s.Arguments ?? [], constants, diagnostics, s.Span, outOfRange: OutOfRange) is not { } args)
            return null;
        var target = ModelBuilder.TargetName(s.Target, constants);
        if (target is null) return null;
        var p = model.Parameters.FirstOrDefault(x => x.Name == target);
        if (p is null)
        {
            var what = Resolve(target) is { } k ? $"'{target}' is a {k}, not a parameter" : $"'{target}' is not a parameter of model '{model.Name}'";
            diagnostics.Add(DiagnosticCatalog.InduceNeedsParameter(s.Target.Span, structure, what, Names.Suggest(target, model.Parameters.Select(x => x.Name))));
            return null;
        }
        if (structure == "lowrank" && p.Shape.Count != 2)
        {
            diagnostics.Add(DiagnosticCatalog.InduceNeedsMatrix(s.Target.Span, target, Names.Shape(p.Shape)));
            return null;
        }
        if (structure == "lowrank" && args.TryGetValue("rank", out var rank) && rank.AsInt() > Math.Min(p.Shape[0], p.Shape[1]))
        {
            var rankSpan = ArgBinder.Map(signature, s.Arguments ?? []).TryGetValue("rank", out var re) ? re.Span : s.Span;
            diagnostics.Add(DiagnosticCatalog.InduceRankTooLarge(rankSpan, target, rank.AsInt(), Names.Shape(p.Shape), Math.Min(p.Shape[0], p.Shape[1])));
            return null;
        }
        return new InduceIR(structure, target, args, s.Span);
    }
}
