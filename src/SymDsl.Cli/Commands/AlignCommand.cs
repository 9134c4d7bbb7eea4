using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Text;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Symmetry;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc align RUN_A RUN_B --out DIR</c>: permutation alignment of run B to run A over every permutation symmetry of the
/// model (<see cref="WeightMatching"/>), the loss and accuracy barriers on the linear path before and after, and DIR, a
/// derived run (<see cref="DerivedRun"/>) holding B's permuted weights, checked to compute B's function.
/// </summary>
internal static class AlignCommand
{
    public static Command Create(CliIO io)
    {
        var runA = new Argument<DirectoryInfo>("RUN_A") { Description = "The reference run (B is permuted towards it)." };
        var runB = new Argument<DirectoryInfo>("RUN_B") { Description = "Another run of the same model (e.g. another seed)." };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Where to write the aligned run (B's weights permuted), align.json, barrier.png and align.md.", Required = true };
        var method = Aligner.MethodOption();
        var probe = CommonOptions.Count("--probe", "Number of probe examples (from the test split) for the function check and activation matching.", defaultValue: 512, min: 2);
        var points = CommonOptions.Count("--points", "Points of t in [0, 1] on each linear path (at least 11).", defaultValue: 11, min: 11, max: 1001);
        var command = new Command("align", "Align run B to run A by permuting B's units over every inferred permutation symmetry (weight matching); loss barriers before and after.")
            { runA, runB, outDir, method, probe, points };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(outDir)!.FullName;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var result = Aligner.Run(parse.GetValue(runA)!.FullName, parse.GetValue(runB)!.FullName, dir, parse.GetValue(method)!,
                parse.GetValue(probe), parse.GetValue(points), io, "align");
            result.Print(io);
            io.Out.WriteLine($"aligned run (B permuted): {dir}; align.json, barrier.png, align.md");
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>What <see cref="Aligner.Run"/> computed (and wrote to align.json).</summary>
internal sealed class AlignResult
{
    public required ModelIR Model { get; init; }
    public required TrainIR Train { get; init; }
    public required string Method { get; init; }
    public required IReadOnlyList<SymmetryIR> Spaces { get; init; }
    public required PermutationAlignment PermutationAlignment { get; init; }
    /// <summary>The orthogonal Procrustes step after the permutations (rotation spaces inside attention heads); empty when the model has none.</summary>
    public required RotationAlignment RotationAlignment { get; init; }
    public required double FunctionCheck { get; init; }
    public required List<PathPoint> Before { get; init; }
    public required List<PathPoint> After { get; init; }
    public required string Split { get; init; }
    public required long Examples { get; init; }
    /// <summary>The runs' seeds (run.json, else the train block's), which choose the held-out rows the barriers read.</summary>
    public required long SeedA, SeedB;
    /// <summary>A's and B's (aligned) effective parameters and buffers, float64 (owned by the caller's scope).</summary>
    public required Dictionary<string, Tensor> A, BufA, B, BufB;

    public PathBarrier BarrierBefore => PathBarrier.Of(Before);
    public PathBarrier BarrierAfter => PathBarrier.Of(After);

    public void Print(CliIO io)
    {
        var inv = CultureInfo.InvariantCulture;
        io.Out.WriteLine($"permutation spaces ({Spaces.Count}, method {Method}, {PermutationAlignment.Sweeps} sweep(s)):");
        foreach (var s in Spaces)
            io.Out.WriteLine(string.Create(inv, $"  {s.Name,-28} {s.Dim} units{(s.Blocks > 1 ? $" x {s.Blocks} blocks" : "")}, {PermutationAlignment.Moved(s.Name)} moved"));
        if (RotationAlignment.Spaces.Count > 0)
        {
            io.Out.WriteLine($"rotation spaces ({RotationAlignment.Spaces.Count}, orthogonal Procrustes per block after the permutations):");
            foreach (var s in RotationAlignment.Spaces)
                io.Out.WriteLine(string.Create(inv, $"  {s.Name,-28} {s.Dim} dims{(s.Blocks > 1 ? $" x {s.Blocks} blocks" : "")}, |R - I| {RotationAlignment.Distance(s.Name):F3}"));
        }
        io.Out.WriteLine(string.Create(inv, $"function check: the aligned run computes B's function, max relative output difference {FunctionCheck:E2}"));
        var (b0, b1) = (BarrierBefore, BarrierAfter);
        io.Out.WriteLine(string.Create(inv, $"loss barrier ({Split}, {Examples} examples):     before {b0.Loss:F4}  after {b1.Loss:F4}{(b0.Loss > 0 ? $"  (ratio {b1.Loss / b0.Loss:F3})" : "")}"));
        if (b0.Accuracy is { } a0 && b1.Accuracy is { } a1)
            io.Out.WriteLine(string.Create(inv, $"accuracy barrier ({Split}): before {a0:F4}  after {a1:F4}"));
    }

    public object Json() => new
    {
        model = Model.Name,
        method = Method,
        split = Split,
        examples = Examples,
        barrier_before = BarrierBefore.Loss,
        barrier_after = BarrierAfter.Loss,
        barrier_ratio = BarrierBefore.Loss > 0 ? BarrierAfter.Loss / BarrierBefore.Loss : (double?)null,
        accuracy_barrier_before = BarrierBefore.Accuracy,
        accuracy_barrier_after = BarrierAfter.Accuracy,
        function_check = new { max_relative_output_difference = FunctionCheck, passed = FunctionCheck <= Aligner.FunctionTolerance, tolerance = Aligner.FunctionTolerance },
        sweeps = PermutationAlignment.Sweeps,
        permutation_spaces = Spaces.Select(s => new
        {
            name = s.Name, target = s.Target, units = s.Dim, blocks = Math.Max(1, s.Blocks), moved = PermutationAlignment.Moved(s.Name),
            parameters = s.Actions.Select(a => $"{a.Parameter}[axis {a.Axis}{(a.Unit > 1 ? $", {a.Unit} per unit" : "")}]").ToList(),
            buffers = s.BufferActions.Select(a => a.Parameter).ToList(),
        }).ToList(),
        rotation_spaces = RotationAlignment.Spaces.Select(s => new
        {
            name = s.Name, target = s.Target, dims = s.Dim, blocks = Math.Max(1, s.Blocks), method = "orthogonal Procrustes per block",
            distance_from_identity = RotationAlignment.Distance(s.Name),
            parameters = s.Actions.Select(a => $"{a.Parameter}[axis {a.Axis}, {a.Role.ToString().ToLowerInvariant()}]").ToList(),
        }).ToList(),
        curve_before = Before.Select(p => new { t = p.T, loss = p.Loss, accuracy = p.Accuracy }).ToList(),
        curve_after = After.Select(p => new { t = p.T, loss = p.Loss, accuracy = p.Accuracy }).ToList(),
        note = "parameters and BatchNorm running statistics are interpolated alike; interpolated running statistics are stale (not the statistics of the interpolated network) — REPAIR (symc merge --repair) or resetting the statistics is the known fix",
    };
}

/// <summary>The alignment shared by <c>symc align</c> and <c>symc merge</c>.</summary>
internal static class Aligner
{
    /// <summary>The largest relative output difference accepted between B and the aligned run (float32 checkpoints).</summary>
    public const double FunctionTolerance = 1e-5;

    public static Option<string> MethodOption() => new("--method")
    {
        Description = "weights: weight matching (Ainsworth et al. 2023); activations: match units by the correlation of their activations on probe inputs.",
        DefaultValueFactory = _ => "weights",
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<string>() is not ("weights" or "activations") and var m) r.AddError($"--method must be weights or activations, got '{m}'");
            },
        },
    };

    /// <summary>
    /// Reads both runs (one model, one set of overrides), matches B to A, writes B's permuted weights as a derived run in
    /// <paramref name="outDir"/> (when <paramref name="writeAligned"/>), checks that it computes B's function, and computes
    /// both curves. Writes align.json, barrier.png and align.md to <paramref name="outDir"/>.
    /// </summary>
    public static AlignResult Run(string dirA, string dirB, string outDir, string method, int probe, int points, CliIO io, string command, bool writeAligned = true)
    {
        var ma = RunManifest.Read(dirA);
        var mb = RunManifest.Read(dirB);
        ma.RequireSameModel(mb, command);
        static string Full(string d) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d));
        if (Full(outDir) == Full(dirA) || Full(outDir) == Full(dirB))
            throw new SymDslException($"--out {outDir} is one of the runs being read; write the {command} result to another directory");
        var (model, train) = ma.Rebuild();
        var spaces = WeightMatching.Spaces(model);
        if (spaces.Count == 0) throw new SymDslException($"model {model.Name} has no permutation symmetry (of two or more units): nothing to align");

        using var a = RunComparison.Load(model, dirA, train);
        using var b = RunComparison.Load(model, dirB, train);
        var pa = a.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var pb = b.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var bufA = a.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var bufB = b.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var seed = ma.Seed ?? train.Seed;
        var seedB = mb.Seed ?? train.Seed;
        using var evaluator = new PathEvaluator(model, train, seed, seedB);
        var inputs = evaluator.Inputs(probe);
        var rng = new Random(unchecked((int)(seed * 1_000_003 + seedB)));

        var alignment = method == "activations"
            ? MatchActivations(model, spaces, evaluator, inputs, pa, bufA, pb, bufB, rng)
            : WeightMatching.Match(spaces, pa, pb, rng);
        var alignedB = WeightMatching.ApplyAll(spaces, alignment.Permutations, pb);
        // Then the rotations inside heads (query–key, value–output), which permutations of whole heads cannot undo:
        // orthogonal Procrustes per block; orthogonal matrices are in the rotation group, so B's function is kept.
        var rotations = RotationMatching.Match(RotationMatching.Spaces(model), pa, alignedB);
        alignedB = RotationMatching.ApplyAll(rotations, alignedB);
        var alignedBuf = WeightMatching.ApplyAllToBuffers(spaces, alignment.Permutations, bufB);

        // The aligned run: B's weights permuted. Its function is checked as read back from disk (float32 checkpoint).
        double check;
        if (writeAligned)
        {
            DerivedRun.Write(dirB, outDir, alignedB, alignedBuf, new DerivedFrom(command, [dirA, dirB])
            {
                Details = { ["what"] = "run B's weights permuted to align with run A", ["method"] = method, ["reference"] = Path.GetFullPath(dirA) },
            });
            using var written = RunComparison.Load(model, outDir, train);
            check = MaxRelativeDifference(b.Forward(inputs), written.Forward(inputs));
        }
        else
        {
            check = MaxRelativeDifference(evaluator.Outputs(pb, bufB, inputs), evaluator.Outputs(alignedB, alignedBuf, inputs));
        }
        if (!(check <= FunctionTolerance))
            throw new InvalidOperationException($"the aligned weights do not compute B's function (max relative output difference {check:E2} > {FunctionTolerance:E0}): a defect in the symmetry's parameter actions");

        var before = evaluator.Curve(pa, pb, bufA, bufB, points);
        var after = evaluator.Curve(pa, alignedB, bufA, alignedBuf, points);
        var result = new AlignResult
        {
            Model = model, Train = train, Method = method, Spaces = spaces, PermutationAlignment = alignment, RotationAlignment = rotations, FunctionCheck = check,
            Before = before, After = after, Split = evaluator.Split, Examples = evaluator.Count, SeedA = seed, SeedB = seedB, A = pa, BufA = bufA, B = alignedB, BufB = alignedBuf,
        };
        WriteReport(result, outDir, dirA, dirB);
        return result;
    }

    /// <summary>Activation matching: per space whose site the model names, the correlation of A's and B's units on the probe.</summary>
    static PermutationAlignment MatchActivations(ModelIR model, IReadOnlyList<SymmetryIR> spaces, PathEvaluator evaluator, Dictionary<string, Tensor> inputs,
        Dictionary<string, Tensor> pa, Dictionary<string, Tensor> bufA, Dictionary<string, Tensor> pb, Dictionary<string, Tensor> bufB, Random rng)
    {
        var axes = UnitAxes.Of(model);
        var sites = spaces.Where(s => model.Site(s.Target) is { } n && n.Shape.Count > 0 && n.Shape[axes[n.Id]] == s.Dim * Math.Max(1, s.Blocks))
            .ToDictionary(s => s.Name, s => model.Site(s.Target)!);
        var capA = new Dictionary<string, Tensor>();
        var capB = new Dictionary<string, Tensor>();
        var names = sites.Values.Select(n => n.Site!).ToHashSet();
        evaluator.Outputs(pa, bufA, inputs, names, capA);
        evaluator.Outputs(pb, bufB, inputs, names, capB);
        Tensor Rows(Tensor x, NodeIR n)
        {
            int axis = axes[n.Id] + 1;
            return x.movedim([axis], [-1]).reshape(-1, x.shape[axis]);
        }
        var actA = sites.ToDictionary(kv => kv.Key, kv => Rows(capA[kv.Value.Site!], kv.Value));
        var actB = sites.ToDictionary(kv => kv.Key, kv => Rows(capB[kv.Value.Site!], kv.Value));
        return WeightMatching.MatchActivations(spaces, actA, actB, pa, pb, rng);
    }

    /// <summary>max over outputs of max|y − y'| / max|y| (float64).</summary>
    public static double MaxRelativeDifference(IReadOnlyDictionary<string, Tensor> y, IReadOnlyDictionary<string, Tensor> y2)
    {
        double worst = 0;
        foreach (var (name, t) in y)
        {
            var u = t.to(ScalarType.Float64);
            var v = y2[name].to(ScalarType.Float64);
            var scale = Math.Max(u.abs().max().item<double>(), 1e-12);
            worst = Math.Max(worst, (u - v).abs().max().item<double>() / scale);
        }
        return worst;
    }

    static void WriteReport(AlignResult r, string outDir, string dirA, string dirB)
    {
        Directory.CreateDirectory(outDir);
        var jsonPath = Path.Combine(outDir, "align.json");
        var options = new JsonSerializerOptions { WriteIndented = true };
        Write(jsonPath, () => AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(r.Json(), options)));
        Plot(r, Path.Combine(outDir, "barrier.png"));
        var md = Path.Combine(outDir, "align.md");
        Write(md, () => AtomicFile.WriteAllText(md, Markdown(r, dirA, dirB)));
    }

    static void Write(string path, Action write)
    {
        try { write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw SymDsl.Torch.Training.Reports.CannotWrite(path, e); }
    }

    static void Plot(AlignResult r, string path)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (curve, label) in new[] { (r.Before, "before alignment"), (r.After, "after alignment") })
        {
            var sc = plt.Add.Scatter(curve.Select(p => p.T).ToArray(), curve.Select(p => p.Loss).ToArray());
            sc.LegendText = label;
        }
        plt.Title($"{r.Model.Name}: loss along (1-t)·θA + t·θB ({r.Split})");
        plt.XLabel("t");
        plt.YLabel("loss");
        plt.ShowLegend();
        Write(path, () => AtomicFile.WriteVia(path, tmp => plt.SavePng(tmp, 720, 420)));
    }

    static string Markdown(AlignResult r, string dirA, string dirB)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# Alignment of {Path.GetFullPath(dirB)} to {Path.GetFullPath(dirA)}");
        sb.AppendLine();
        sb.AppendLine($"Model {r.Model.Name}; method {r.Method}; {r.Spaces.Count} permutation space(s) from the compiler's symmetries (no hand-written spec); {r.PermutationAlignment.Sweeps} sweep(s).");
        sb.AppendLine();
        sb.AppendLine("| space | site | units | moved |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var s in r.Spaces) sb.AppendLine($"| {s.Name} | {s.Target} | {s.Dim}{(s.Blocks > 1 ? $" x {s.Blocks}" : "")} | {r.PermutationAlignment.Moved(s.Name)} |");
        if (r.RotationAlignment.Spaces.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Then each rotation space (inside attention heads) was matched by orthogonal Procrustes per block:");
            sb.AppendLine();
            sb.AppendLine("| rotation space | site | dims | ‖R − I‖ |");
            sb.AppendLine("|---|---|---|---|");
            foreach (var s in r.RotationAlignment.Spaces)
                sb.AppendLine(string.Create(inv, $"| {s.Name} | {s.Target} | {s.Dim}{(s.Blocks > 1 ? $" x {s.Blocks}" : "")} | {r.RotationAlignment.Distance(s.Name):F3} |"));
        }
        sb.AppendLine();
        sb.AppendLine(string.Create(inv, $"This directory is a run holding B's weights permuted; it computes B's function: max relative output difference {r.FunctionCheck:E2} on the probe."));
        sb.AppendLine();
        var (b0, b1) = (r.BarrierBefore, r.BarrierAfter);
        sb.AppendLine($"| ({r.Split}, {r.Examples} examples) | before | after |");
        sb.AppendLine("|---|---|---|");
        sb.AppendLine(string.Create(inv, $"| loss barrier | {b0.Loss:F4} | {b1.Loss:F4} |"));
        if (b0.Accuracy is { } a0 && b1.Accuracy is { } a1) sb.AppendLine(string.Create(inv, $"| accuracy barrier | {a0:F4} | {a1:F4} |"));
        sb.AppendLine();
        sb.AppendLine("![loss along the linear path, before and after alignment](barrier.png)");
        sb.AppendLine();
        sb.AppendLine("BatchNorm running statistics (if any) are interpolated with the parameters; they are stale for the interpolated network (REPAIR or a reset of the statistics is the known fix).");
        return sb.ToString();
    }
}
