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

        var command = new Command("check", "Parse and check a .sym file: names, shapes, train blocks and symmetries.") { file, set, maxBytes, format, verify, trials };
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
            if (parse.GetValue(verify) && !Verify(io, compilation.Program!, Math.Max(1, parse.GetValue(trials))))
                return ExitCodes.InputError;
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Relative output error allowed for a symmetry that holds only approximately (see <see cref="ApproximateBecause"/>).</summary>
    const double ApproximateTolerance = 1e-3;

    /// <summary>
    /// Prints one line per symmetry: verified or FAILED with the largest relative error. Exact symmetries must hold to
    /// 1e-8 (float64); approximate ones to <see cref="ApproximateTolerance"/>. False when any failed.
    /// </summary>
    static bool Verify(CliIO io, SymDsl.IR.ProgramIR program, int trials)
    {
        bool allHold = true;
        foreach (var model in program.Models)
        {
            io.Out.WriteLine($"verifying {model.Name}: {Plural(model.Symmetries.Count, "symmetry", "symmetries")}, {Plural(trials, "random group element")} each, float64");
            var approximate = model.Symmetries.ToDictionary(s => s, s => ApproximateBecause(model, s));
            var results = ModelVerification.Verify(model, model.Symmetries.Where(s => approximate[s] is null), trials)
                .Concat(ModelVerification.Verify(model, model.Symmetries.Where(s => approximate[s] is not null), trials, tolerance: ApproximateTolerance))
                .OrderBy(v => model.Symmetries.ToList().IndexOf(v.Symmetry));
            foreach (var v in results)
            {
                var s = v.Symmetry;
                string what = $"{s.Kind.ToString().ToLowerInvariant()}({s.Target})";
                string name = s.Declared ? $"{s.Name} : {what}" : $"{what} (inferred)";
                string err = v.Result.MaxRelativeError.ToString("0.0e+00", CultureInfo.InvariantCulture);
                string note = approximate[s] is { } why ? $" (approximate: {why}; tolerance {ApproximateTolerance:0e+0})" : "";
                io.Out.WriteLine($"  {(v.Holds ? "verified" : "FAILED  ")}  {name,-40} max relative error {err}{note}");
                allHold &= v.Holds;
            }
        }
        if (!allHold) io.Err.WriteLine("symc: error: a symmetry failed numerical verification: the model's outputs change under its group action");
        return allHold;
    }

    /// <summary>
    /// Why a symmetry holds only approximately, or null when it is exact: scale(z) before a LayerNorm with eps &gt; 0
    /// (LN(c·z) = LN(z) exactly only when eps = 0; the eps term breaks it where the variance of z is small).
    /// </summary>
    internal static string? ApproximateBecause(SymDsl.IR.ModelIR model, SymDsl.IR.SymmetryIR symmetry)
    {
        if (symmetry.Kind != SymDsl.IR.SymmetryKind.Scale || model.Site(symmetry.Target) is not { } site) return null;
        var eps = model.Nodes
            .Where(n => n.Op == SymDsl.IR.OpKind.Layer && n.Inputs.Contains(site.Id))
            .Select(n => model.Layer(n.Attr("layer")))
            .Where(l => l.Kind == SymDsl.IR.LayerKind.LayerNorm)
            .Select(l => SymDsl.IR.ValueArgs.Double(l.Args, "eps", 1e-5))
            .DefaultIfEmpty(0)
            .Max();
        return eps > 0 ? $"LayerNorm eps = {eps.ToString("G", CultureInfo.InvariantCulture)}" : null;
    }

    internal static string Plural(int n, string one, string? many = null) => $"{n} {(n == 1 ? one : many ?? one + "s")}";
}
