using System.CommandLine;
using SymDsl.Cli.Rendering;

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

        var command = new Command("check", "Parse and check a .sym file: names, shapes, train blocks and symmetries.") { file, set, maxBytes, format };
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
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static string Plural(int n, string one, string? many = null) => $"{n} {(n == 1 ? one : many ?? one + "s")}";
}
