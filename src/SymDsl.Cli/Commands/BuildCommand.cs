using SymDsl.Cli.Rendering;
using System.CommandLine;
using SymDsl.Emit;

namespace SymDsl.Cli.Commands;

/// <summary><c>symc build FILE --out DIR</c>: check, then write the IR (JSON), the generated C# module and the symmetry report.</summary>
internal static class BuildCommand
{
    public static Command Create(CliIO io)
    {
        var file = CommonOptions.SourceFile();
        var set = CommonOptions.Set();
        var maxBytes = CommonOptions.MaxParameterBytes();
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "Where to write the artifacts (default: out/<file name>/build)." };

        var command = new Command("build", "Check a .sym file, then write the checked IR, a generated C# TorchSharp module and a symmetry report.") { file, set, maxBytes, outDir };
        command.SetAction(parse =>
        {
            var source = parse.GetValue(file)!;
            var options = new CompileOptions(CommonOptions.ParseAssignments(parse.GetValue(set)), parse.GetValue(maxBytes));
            var compilation = CompileStep.Run(io, source, options);
            if (compilation is null) return ExitCodes.InputError;
            string dir = parse.GetValue(outDir)?.FullName ?? DefaultDir(source);
            var written = Write(compilation, dir);
            foreach (var path in written) io.Out.WriteLine($"wrote {DisplayPaths.Of(path)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static string DefaultDir(FileInfo source) => Path.Combine(Environment.CurrentDirectory, "out", Path.GetFileNameWithoutExtension(source.Name), "build");

    internal static IReadOnlyList<string> Write(Compilation compilation, string dir)
    {
        try
        {
            return BuildArtifacts.Write(compilation, dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDsl.Diagnostics.SymDslException($"cannot write build artifacts to '{dir}': {e.Message}");
        }
    }
}
