using System.CommandLine;
using SymDsl.Torch.Diagnostics;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc export RUN --to pytorch --out DIR</c>: the run's final model (RUN/checkpoint.bin, with syre/induce folded into
/// the effective parameters) as a PyTorch twin: <c>DIR/&lt;Model&gt;.py</c>, <c>DIR/weights.pt</c> and
/// <c>DIR/symmetries.json</c> (<see cref="PyTorchExport"/>).
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CliIO io)
    {
        var run = new Argument<DirectoryInfo>("RUN") { Description = "A run directory written by symc train." };
        var to = new Option<string>("--to") { Description = "The framework to export to: pytorch.", Required = true };
        to.AcceptOnlyFromAmong("pytorch");
        var output = new Option<DirectoryInfo>("--out") { Description = "The directory to write <Model>.py, weights.pt and symmetries.json into (created when missing).", Required = true };

        var command = new Command("export", "Export a trained run as a PyTorch module with its weights and symmetries.") { run, to, output };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(run)!.FullName;
            var outDir = parse.GetValue(output)!.FullName;
            var manifest = RunManifest.Read(dir);
            var (model, train) = manifest.Rebuild();
            using var scope = NewDisposeScope();
            using var trained = RunComparison.Load(model, dir, train);
            var files = PyTorchExport.Write(model, train.Symmetries, trained, outDir, manifest.Source);
            foreach (var f in files) io.Out.WriteLine(f);
            return ExitCodes.Ok;
        });
        return command;
    }
}
