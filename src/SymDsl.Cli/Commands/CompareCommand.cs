using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc compare RUN_A RUN_B</c>: linear CKA of every named site between two independently trained runs of the same
/// model, on the same probe inputs (the test split of the train block's data), beside the baseline of two random
/// initialisations with the runs' seeds.
/// </summary>
internal static class CompareCommand
{
    public static Command Create(CliIO io)
    {
        var runA = new Argument<DirectoryInfo>("RUN_A") { Description = "A run directory written by symc train." };
        var runB = new Argument<DirectoryInfo>("RUN_B") { Description = "Another run of the same model (e.g. another seed)." };
        var probe = CommonOptions.Count("--probe", "Number of probe examples (from the test split).", defaultValue: 512);
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };

        var command = new Command("compare", "Compare the representations of two trained runs site by site (linear CKA), against two random initialisations.") { runA, runB, probe, json };
        command.SetAction(parse =>
        {
            var a = RunManifest.Read(parse.GetValue(runA)!.FullName);
            var b = RunManifest.Read(parse.GetValue(runB)!.FullName);
            a.RequireSameModel(b, "compare");

            var (model, train) = a.Rebuild();

            using var scope = NewDisposeScope();
            var inputs = ProbeInputs(model, train, a.Seed ?? train.Seed, Math.Max(2, parse.GetValue(probe)));
            var trained = RunComparison.Compare(model, parse.GetValue(runA)!.FullName, parse.GetValue(runB)!.FullName, inputs, train);
            var initial = RunComparison.CompareInitial(model, a.Seed ?? train.Seed, b.Seed ?? train.Seed + 1, inputs, train);
            var baseline = initial.ToDictionary(s => s.Site, s => s.Cka);

            if (parse.GetValue(json))
            {
                io.Out.WriteLine(JsonSerializer.Serialize(trained.Select(s => new { site = s.Site, cka = s.Cka, cka_init = baseline.GetValueOrDefault(s.Site, double.NaN) }),
                    new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Ok;
            }
            io.Out.WriteLine($"{"site",-24} {"CKA trained",12} {"CKA at init",12}");
            foreach (var s in trained)
                io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Site,-24} {s.Cka,12:F4} {baseline.GetValueOrDefault(s.Site, double.NaN),12:F4}"));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The first <paramref name="count"/> test examples (training examples when there is no test split), shaped as the model's inputs.</summary>
    internal static Dictionary<string, Tensor> ProbeInputs(ModelIR model, TrainIR train, long seed, int count)
    {
        var data = DataSources.Load(train.Data, seed);
        var source = data.TestCount > 0 ? data.Test : data.Train;
        var inputs = new Dictionary<string, Tensor>();
        foreach (var input in model.Inputs)
        {
            var fieldName = train.FieldOf(input.Name); // decided by the checker (TrainIR.InputBindings)
            if (!source.TryGetValue(fieldName, out var field))
                throw new SymDslException($"data {train.Data.Kind} has no field '{fieldName}' for input {input.Name}");
            long n = Math.Min(count, field.shape[0]);
            inputs[input.Name] = field.narrow(0, 0, n).reshape([n, .. input.Shape.Select(d => (long)d)]).to_type(input.Type == ElementType.Int64 ? ScalarType.Int64 : ScalarType.Float64);
        }
        return inputs;
    }
}
