using System.CommandLine;
using System.Text;
using SymDsl.Diagnostics;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Sampling;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc sample RUN --prompt "…"</c>: loads a trained run's final weights (RUN/checkpoint.bin) and continues the prompt
/// byte by byte with the model of a byte-level text run (<see cref="ByteSampler"/>); prints the prompt and the bytes.
/// </summary>
internal static class SampleCommand
{
    public static Command Create(CliIO io)
    {
        var run = new Argument<DirectoryInfo>("RUN") { Description = "A run directory written by symc train, of a model that reads tokens (e.g. examples/byte-gpt)." };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue (its UTF-8 bytes); default: a newline.", DefaultValueFactory = _ => "\n" };
        var length = CommonOptions.Count("--length", "Number of bytes to generate.", defaultValue: 200);
        var temperature = new Option<double>("--temperature") { Description = "Softmax temperature; 0 picks the most likely byte each time (greedy).", DefaultValueFactory = _ => 0.8 };
        temperature.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is var t && !(t >= 0 && double.IsFinite(t))) r.AddError($"--temperature must be a finite number at least 0, got {t}");
        });
        var seed = new Option<long>("--seed") { Description = "Seed of the sampling generator (the same seed gives the same text).", DefaultValueFactory = _ => 0, CustomParser = r => CommonOptions.Seed(r) ?? 0 };

        var command = new Command("sample", "Generate bytes from a trained byte-level text model (autoregressively, from its final weights).") { run, prompt, length, temperature, seed };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(run)!.FullName;
            var manifest = RunManifest.Read(dir);
            var (model, train) = manifest.Rebuild();
            ByteSampler.Check(model, train.Loss.Output); // before loading: a model that does not read tokens is said first
            var bytes = Encoding.UTF8.GetBytes(parse.GetValue(prompt) is { Length: > 0 } p ? p : "\n");
            using var trained = RunComparison.Load(model, dir, train);
            var generated = ByteSampler.Generate(trained, model, train.Loss.Output, bytes, parse.GetValue(length), parse.GetValue(temperature), parse.GetValue(seed));
            io.Out.Write(Encoding.UTF8.GetString([.. bytes, .. generated]));
            io.Out.WriteLine();
            return ExitCodes.Ok;
        });
        return command;
    }
}
