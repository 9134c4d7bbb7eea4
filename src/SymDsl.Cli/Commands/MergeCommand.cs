using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.Text;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Symmetry;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc merge RUN_A RUN_B --out DIR [--alpha 0.5] [--repair]</c>: B aligned to A (<see cref="Aligner"/>), then
/// (1−α)θA + αθB' written as a derived run; with <c>--repair</c>, REPAIR's renormalisation of the merged units
/// (<see cref="Repair"/>). DIR/merge.json holds the merged model's loss and accuracy beside A's and B's.
/// </summary>
internal static class MergeCommand
{
    public static Command Create(CliIO io)
    {
        var runA = new Argument<DirectoryInfo>("RUN_A") { Description = "A run directory written by symc train." };
        var runB = new Argument<DirectoryInfo>("RUN_B") { Description = "Another run of the same model (aligned to A before averaging)." };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Where to write the merged run (and merge.json, align.json, barrier.png, align.md).", Required = true };
        var alpha = new Option<double>("--alpha") { Description = "Weight of B: the merge is (1 − alpha)·A + alpha·B (aligned).", DefaultValueFactory = _ => 0.5 };
        alpha.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is var v && !(v >= 0 && v <= 1)) r.AddError($"--alpha must be between 0 and 1, got {v.ToString(CultureInfo.InvariantCulture)}");
        });
        var repair = new Option<bool>("--repair") { Description = "REPAIR (Jordan et al. 2023): reset each merged unit's pre-activation mean and std to the interpolation of A's and B's (units of relu(Linear/Conv with bias))." };
        var method = Aligner.MethodOption();
        var probe = CommonOptions.Count("--probe", "Number of probe examples (from the test split) for alignment checks and REPAIR's statistics.", defaultValue: 512, min: 2);
        var command = new Command("merge", "Merge two runs of one model: align B to A over every inferred permutation symmetry, then average (optionally with REPAIR).")
            { runA, runB, outDir, alpha, repair, method, probe };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(outDir)!.FullName;
            var dirA = parse.GetValue(runA)!.FullName;
            var dirB = parse.GetValue(runB)!.FullName;
            double t = parse.GetValue(alpha);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var aligned = Aligner.Run(dirA, dirB, dir, parse.GetValue(method)!, parse.GetValue(probe), 11, io, "merge", writeAligned: false);
            aligned.Print(io);
            var merged = PathEvaluator.Interpolate(aligned.A, aligned.B, t);
            var mergedBuf = PathEvaluator.Interpolate(aligned.BufA, aligned.BufB, t);
            var model = aligned.Model;
            using var evaluator = new PathEvaluator(model, aligned.Train, aligned.SeedA, aligned.SeedB);
            var covered = new List<string>();
            if (parse.GetValue(repair))
            {
                var sites = Repair.Sites(model, aligned.Spaces);
                covered = sites.Select(s => s.Space).ToList();
                merged = Repair.Apply(model, aligned.Spaces, merged, mergedBuf, aligned.A, aligned.BufA, aligned.B, aligned.BufB, evaluator.Inputs(parse.GetValue(probe)), t);
            }
            var notCovered = aligned.Spaces.Select(s => s.Name).Except(covered).ToList();
            DerivedRun.Write(dirA, dir, merged, mergedBuf, new DerivedFrom("merge", [dirA, dirB])
            {
                Details =
                {
                    ["what"] = $"(1 - alpha)·A + alpha·B after aligning B to A{(parse.GetValue(repair) ? ", REPAIR applied" : "")}",
                    ["alpha"] = t.ToString(CultureInfo.InvariantCulture),
                    ["method"] = aligned.Method,
                    ["repair"] = parse.GetValue(repair) ? "true" : "false",
                },
            });
            var (la, aa) = evaluator.Evaluate(aligned.A, aligned.BufA);
            var (lb, ab) = evaluator.Evaluate(aligned.B, aligned.BufB);
            var (lm, am) = evaluator.Evaluate(merged, mergedBuf);
            var json = new
            {
                alpha = t,
                method = aligned.Method,
                repair = parse.GetValue(repair),
                repair_covered = parse.GetValue(repair) ? covered : null,
                repair_not_covered = parse.GetValue(repair) ? notCovered : null,
                split = evaluator.Split,
                examples = evaluator.Count,
                loss = new { a = la, b = lb, merged = lm },
                accuracy = new { a = aa, b = ab, merged = am },
                barrier_before = aligned.BarrierBefore.Loss,
                barrier_after = aligned.BarrierAfter.Loss,
                note = "BatchNorm running statistics are interpolated with the parameters and are stale for the merged network; REPAIR here renormalises only relu(Linear/Conv) units, it does not recompute BatchNorm statistics",
            };
            var path = Path.Combine(dir, "merge.json");
            try { AtomicFile.WriteAllText(path, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true })); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw SymDsl.Torch.Training.Reports.CannotWrite(path, e); }
            var inv = CultureInfo.InvariantCulture;
            io.Out.WriteLine(string.Create(inv, $"loss ({evaluator.Split}):     A {la:F4}  B {lb:F4}  merged (alpha {t}) {lm:F4}"));
            if (aa is { } x && ab is { } y && am is { } z) io.Out.WriteLine(string.Create(inv, $"accuracy ({evaluator.Split}): A {x:F4}  B {y:F4}  merged {z:F4}"));
            if (parse.GetValue(repair))
                io.Out.WriteLine($"REPAIR: {(covered.Count > 0 ? string.Join(", ", covered) : "no unit")} renormalised{(notCovered.Count > 0 ? $"; not covered (no relu(Linear/Conv with bias) site): {string.Join(", ", notCovered)}" : "")}");
            io.Out.WriteLine($"merged run: {dir}; merge.json, align.json, barrier.png, align.md");
            return ExitCodes.Ok;
        });
        return command;
    }
}
