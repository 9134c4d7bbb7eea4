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
        var trials = new Option<int>("--trials") { Description = "Random group elements per symmetry with --verify.", DefaultValueFactory = _ => 3 };

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

    /// <summary>Prints one line per symmetry: verified or FAILED with the largest relative output error. False when any failed.</summary>
    static bool Verify(CliIO io, SymDsl.IR.ProgramIR program, int trials)
    {
        bool allHold = true;
        foreach (var model in program.Models)
        {
            io.Out.WriteLine($"verifying {model.Name}: {Plural(model.Symmetries.Count, "symmetry", "symmetries")}, {Plural(trials, "random group element")} each, float64");
            foreach (var v in ModelVerification.VerifyAll(model, trials))
            {
                var s = v.Symmetry;
                string what = $"{s.Kind.ToString().ToLowerInvariant()}({s.Target})";
                string name = s.Declared ? $"{s.Name} : {what}" : $"{what} (inferred)";
                string err = v.Result.MaxRelativeError.ToString("0.0e+00", CultureInfo.InvariantCulture);
                io.Out.WriteLine($"  {(v.Holds ? "verified" : "FAILED  ")}  {name,-40} max relative error {err}");
                allHold &= v.Holds;
            }
        }
        if (!allHold) io.Err.WriteLine("symc: error: a symmetry failed numerical verification: the model's outputs change under its group action");
        return allHold;
    }

    internal static string Plural(int n, string one, string? many = null) => $"{n} {(n == 1 ? one : many ?? one + "s")}";
}
