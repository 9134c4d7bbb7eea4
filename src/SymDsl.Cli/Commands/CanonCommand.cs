using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Text;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Symmetry;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc canon RUN --out DIR</c>: the canonical representative of a trained run's orbit under every symmetry of its train
/// block (<see cref="Canonical"/>), written as a derived run directory (<see cref="DerivedRun"/>) with DIR/canon.json saying
/// what was done per symmetry and the function check on probe inputs.
/// </summary>
internal static class CanonCommand
{
    public const string FileName = "canon.json";

    public static Command Create(CliIO io)
    {
        var run = new Argument<DirectoryInfo>("RUN") { Description = "A run directory written by symc train (or a derived run)." };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "The run directory to write the canonical run to.", Required = true };
        var probe = CommonOptions.Count("--probe", "Number of probe examples (from the test split) for the function check.", defaultValue: 256);

        var command = new Command("canon", "Write the canonical representative of a run's orbit under its inferred symmetries (rescalings balanced, signs fixed, units sorted), checked to compute the same function.") { run, outDir, probe };
        command.SetAction(parse =>
        {
            var source = parse.GetValue(run)!.FullName;
            var target = parse.GetValue(outDir)!.FullName;
            var manifest = RunManifest.Read(source);
            var (model, train) = manifest.Rebuild();
            var symmetries = train.Symmetries.Count > 0 ? train.Symmetries : model.Symmetries;
            var centred = Vocabulary.Losses.Get(train.Loss.Kind).ShiftInvariant ? new HashSet<string> { train.Loss.Output } : new HashSet<string>();

            using var scope = NewDisposeScope();
            using var lowered = RunComparison.Load(model, source, train);
            var parameters = lowered.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            var buffers = lowered.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            var inputs = CompareCommand.ProbeInputs(model, train, manifest.Seed ?? train.Seed, Math.Max(2, parse.GetValue(probe)));

            using var canon = Canonical.Canonicalize(symmetries, parameters, buffers, model);
            // Exact symmetries keep the function to rounding; BatchNorm's or LayerNorm's eps makes a rescale/scale before it
            // hold only approximately (as `symc check --verify` says).
            bool approximate = symmetries.Any(s => !s.Exact && canon.Steps.Any(c => c.Symmetry == s.Name && c.Action != "left_out"));
            double tolerance = approximate ? 1e-3 : 1e-6;
            double inFloat64 = Canonical.OutputDifference(lowered, model, inputs, parameters, buffers, canon.Parameters, canon.Buffers, centred);
            if (!(inFloat64 <= tolerance))
                throw new SymDslException(string.Create(CultureInfo.InvariantCulture,
                    $"the canonical form of {source} changes the outputs by {inFloat64:E2} (relative, tolerance {tolerance:E0}) on {inputs.Values.First().shape[0]} probe inputs; nothing written"));

            var details = new Dictionary<string, string> { ["symmetries"] = string.Join(", ", symmetries.Select(s => s.Name)) };
            DerivedRun.Write(source, target, canon.Parameters, canon.Buffers, new DerivedFrom("canon", [source]) { Details = details });

            // The written run (float32, as training stores it) against the source run.
            double written;
            using (var reread = RunComparison.Load(model, target, train))
            {
                var p1 = reread.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                var b1 = reread.Buffers().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                written = Canonical.OutputDifference(lowered, model, inputs, parameters, buffers, p1, b1, centred);
            }

            var report = new
            {
                run = source,
                model = model.Name,
                train = train.Name,
                symmetries = canon.Steps.Select(s => new
                {
                    name = s.Symmetry,
                    kind = s.Kind.ToString().ToLowerInvariant(),
                    site = s.Target,
                    action = s.Action,
                    before = Finite(s.Before),
                    after = Finite(s.After),
                    note = s.Reason,
                }).ToList(),
                rescale_sweeps = canon.Sweeps,
                rescale_residual = canon.Residual,
                rescale_tolerance = Canonical.Tolerance,
                function_check = new
                {
                    probe_inputs = inputs.Values.First().shape[0],
                    split = "test (train when the data has no test split)",
                    centred_outputs = centred.ToList(),
                    max_relative_difference_float64 = inFloat64,
                    max_relative_difference_written = written,
                    tolerance,
                    holds = inFloat64 <= tolerance,
                },
            };
            var path = Path.Combine(target, FileName);
            try { AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true })); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw SymDsl.Torch.Training.Reports.CannotWrite(path, e); }

            io.Out.WriteLine($"{"symmetry",-28} {"kind",-12} {"site",-14} {"done",-12} {"before",12} {"after",12}");
            foreach (var s in canon.Steps)
                io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s.Symmetry,-28} {s.Kind.ToString().ToLowerInvariant(),-12} {s.Target,-14} {s.Action,-12} {s.Before,12:G6} {s.After,12:G6}"));
            io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"same function: max relative output difference {inFloat64:E2} (float64, tolerance {tolerance:E0}), {written:E2} as written (float32), on {inputs.Values.First().shape[0]} probe inputs"));
            io.Out.WriteLine($"wrote {target} ({FileName}, {SymDsl.Torch.Training.Checkpoint.FileName}, {WeightsExport.FileName}, {RunManifest.FileName})");
            return ExitCodes.Ok;
        });
        return command;
    }

    static double? Finite(double x) => double.IsFinite(x) ? x : null;
}
