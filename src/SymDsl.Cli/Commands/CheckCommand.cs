using System.CommandLine;
using System.Globalization;
using SymDsl.Cli.Rendering;
using SymDsl.Torch.Symmetry;

namespace SymDsl.Cli.Commands;

/// <summary><c>symc check FILE</c>: parse and check; diagnostics on stderr (or JSON on stdout); exit 1 on errors.</summary>
internal static class CheckCommand
{
    public static Command Create(CliIO io)
    {
        var file = CommonOptions.SourceFile();
        var set = CommonOptions.Set();
        var maxBytes = CommonOptions.MaxParameterBytes();
        var format = new Option<DiagnosticFormat>("--format") { Description = "Diagnostic output format: text (FILE:LINE:COL lines on stderr) or json (on stdout)." };

        var verify = new Option<bool>("--verify") { Description = "Also verify every declared and inferred symmetry numerically: random parameters and group elements, float64, compare outputs." };
        var trials = CommonOptions.Count("--trials", "Random group elements per symmetry with --verify.", defaultValue: 3, max: 1000);

        var trainName = CommonOptions.TrainName();
        trainName.Description = "With --verify: verify only this train block's symmetries (the NAME of `train MODEL as NAME`, else the model's name).";

        var command = new Command("check", "Parse and check a .sym file: names, shapes, train blocks and symmetries.") { file, set, maxBytes, format, verify, trials, trainName };
        command.Validators.Add(r =>
        {
            if (r.GetResult(trainName) is not null && r.GetResult(verify) is null) r.AddError("--train needs --verify (it chooses the train block whose symmetries are verified)");
        });
        command.SetAction(parse =>
        {
            var source = parse.GetValue(file)!;
            var fmt = parse.GetValue(format);
            var options = new CompileOptions(CommonOptions.ParseAssignments(parse.GetValue(set)), parse.GetValue(maxBytes));
            var compilation = CompileStep.Run(io, source, options, fmt);
            if (compilation is null) return ExitCodes.InputError;
            if (fmt == DiagnosticFormat.Text)
            {
                var program = compilation.Program!;
                int warnings = compilation.Diagnostics.Count(d => d.Level == SymDsl.Diagnostics.DiagnosticLevel.Warning);
                int symmetries = program.Models.Sum(m => m.Symmetries.Count);
                io.Out.WriteLine($"{CompileStep.DisplayPath(source)}: ok — {Plural(program.Models.Count, "model")}, {Plural(program.Trains.Count, "train block")}, {Plural(symmetries, "symmetry", "symmetries")}, {Plural(warnings, "warning")}");
            }
            if (parse.GetValue(verify) && !Verify(io, compilation.Program!, Math.Max(1, parse.GetValue(trials)), parse.GetValue(trainName)))
                return ExitCodes.InputError;
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Relative output error allowed for a symmetry that holds only approximately (<see cref="SymDsl.IR.SymmetryIR.Exact"/> false).</summary>
    const double ApproximateTolerance = 1e-3;

    /// <summary>
    /// Prints one line per symmetry: verified or FAILED with the largest relative error. Exact symmetries must hold to
    /// 1e-8 (float64); approximate ones to <see cref="ApproximateTolerance"/>. False when any failed.
    /// </summary>
    static bool Verify(CliIO io, SymDsl.IR.ProgramIR program, int trials, string? trainName = null)
    {
        bool allHold = true;
        // --train NAME: that block alone (ProgramIR.Train: exit 2 when the file has no block of that name).
        var only = trainName is null ? null : program.Train(trainName);
        foreach (var model in program.Models.Where(m => only is null || m.Name == only.Model))
        {
            // Each train block is checked with its own loss bound (translation of cross-entropy logits); a model without one
            // with its loss-independent symmetries.
            var blocks = only is not null ? new List<SymDsl.IR.TrainIR> { only } : program.Trains.Where(t => t.Model == model.Name).ToList();
            if (blocks.Count == 0) allHold &= VerifyOne(io, model, model.Symmetries, null, trials, $"verifying {model.Name}");
            for (int i = 0; i < blocks.Count; i++)
            {
                var block = blocks[i];
                var header = blocks.Count == 1 && !block.Named ? $"verifying {model.Name}" : $"verifying {model.Name}, train block '{block.Name}' at line {block.Span.Line}";
                var shiftInvariant = SymDsl.Vocabulary.Losses.Get(block.Loss.Kind).ShiftInvariant ? new HashSet<string> { block.Loss.Output } : new HashSet<string>();
                allHold &= VerifyOne(io, program.ModelFor(block), program.ModelFor(block).Symmetries, shiftInvariant, trials, header);
            }
        }
        if (!allHold) io.Err.WriteLine("symc: error: a symmetry failed numerical verification: the model's outputs change under its group action");
        return allHold;
    }

    static bool VerifyOne(CliIO io, SymDsl.IR.ModelIR model, IReadOnlyList<SymDsl.IR.SymmetryIR> symmetries, IReadOnlySet<string>? shiftInvariant, int trials, string header)
    {
        bool allHold = true;
        io.Out.WriteLine($"{header}: {Plural(symmetries.Count, "symmetry", "symmetries")}, {Plural(trials, "random group element")} each, float64");
        var results = ModelVerification.Verify(model, symmetries.Where(s => s.Exact), trials, shiftInvariantOutputs: shiftInvariant)
            .Concat(ModelVerification.Verify(model, symmetries.Where(s => !s.Exact), trials, tolerance: ApproximateTolerance, shiftInvariantOutputs: shiftInvariant))
            .OrderBy(v => symmetries.ToList().IndexOf(v.Symmetry));
        foreach (var v in results)
        {
            var s = v.Symmetry;
            string what = $"{s.Kind.ToString().ToLowerInvariant()}({s.Target})";
            string name = s.Declared ? $"{s.Name} : {what}" : $"{what} (inferred)";
            string err = v.Result.MaxRelativeError.ToString("0.0e+00", CultureInfo.InvariantCulture);
            string note = s.Exact ? "" : $" (approximate: a LayerNorm or BatchNorm eps > 0 absorbs the scale only approximately; tolerance {ApproximateTolerance:0e+0})";
            io.Out.WriteLine($"  {(v.Holds ? "verified" : "FAILED  ")}  {name,-40} max relative error {err}{note}");
            allHold &= v.Holds;
        }
        return allHold;
    }

    internal static string Plural(int n, string one, string? many = null) => $"{n} {(n == 1 ? one : many ?? one + "s")}";
}
