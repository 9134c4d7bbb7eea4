using System.Globalization;
using System.Text;
using System.Text.Json;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/gradient-balance's continuation experiment (issue 17): train balance.sym to near convergence (full batch),
/// then continue from those weights at several learning rates at equal lr·steps (and at several batch sizes at a fixed
/// lr), measuring the per-unit imbalance mean_i |ln r_i| from the full training split's gradient (<see cref="UnitBalanceProbe"/>).
/// </summary>
internal static class BalanceContinuation
{
    public const string Example = "gradient-balance/balance.sym";

    public sealed record Run(long Seed, double Lr, int Batch, int Steps, List<UnitBalancePoint> Series)
    {
        /// <summary>Decay rate of the per-unit imbalance: −slope of ln Unit against t = lr·step (least squares), R².</summary>
        public (double rate, double r2) Rate()
        {
            var pts = Series.Where(p => p.Unit > 0 && double.IsFinite(p.Unit)).Select(p => (t: Lr * p.Step, y: Math.Log(p.Unit))).ToList();
            var (slope, _, r2) = Fit(pts.Select(p => p.t).ToArray(), pts.Select(p => p.y).ToArray());
            return (-slope, r2);
        }

        /// <summary>End-point rate ln(Unit_first / Unit_last) / (lr·steps).</summary>
        public double EndRate => Math.Log(Series[0].Unit / Series[^1].Unit) / (Lr * Steps);

        /// <summary>The entropic term's predicted contribution to the rate: lr · mean over the run of e(t) / Unit(t).</summary>
        public double EntropicRate => Lr * Series.Select(p => p.Entropic / p.Unit).Where(double.IsFinite).Average();
    }

    public static (double slope, double intercept, double r2) Fit(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average();
        double sxx = x.Sum(v => (v - mx) * (v - mx)), sxy = x.Zip(y, (a, b) => (a - mx) * (b - my)).Sum();
        var slope = sxy / sxx;
        var intercept = my - slope * mx;
        double ss = y.Sum(v => (v - my) * (v - my)), res = x.Zip(y, (a, b) => Math.Pow(b - intercept - slope * a, 2)).Sum();
        return (slope, intercept, ss > 0 ? 1 - res / ss : double.NaN);
    }

    /// <summary>
    /// balance.sym at the given width, compiled, lowered (the seed's initialisation) and its data loaded (the seed's split).
    /// The continuation runs train this model with plain SGD in a direct loop (<see cref="Steps"/>) rather than through
    /// `symc train`: each run is a few hundred steps of a 64-32-10 MLP, and the trainer's per-step bookkeeping (epoch
    /// evaluation, metrics lines) dominated its cost on the shared machine.
    /// </summary>
    public sealed class Setup : IDisposable
    {
        public required SymModel Model { get; init; }
        public required SymmetryIR Symmetry { get; init; }
        public required TrainIR Train { get; init; }
        public required DataSet Data { get; init; }
        public required long Seed { get; init; }
        public Tensor FullLoss() => Trainer.LossOf(Train.Loss.Kind, Model.Forward(Data.Train)[Train.Loss.Output], Data.Train[Train.Loss.Target]);
        public void Dispose() { Model.Dispose(); Data.Dispose(); }
    }

    public static Setup Load(long seed, int width)
    {
        var c = Compiler.CompileFile(Paths.Example(Example), new CompileOptions(new Dictionary<string, string> { ["width"] = width.ToString(CultureInfo.InvariantCulture) }));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var train = c.Program!.Trains[0];
        var modelIR = c.Program.ModelFor(train);
        return new Setup
        {
            Model = new SymModel(modelIR, seed: seed), Symmetry = modelIR.Symmetries.Single(s => s.Name == "s"),
            Train = train, Data = DataSources.Load(train.Data, seed), Seed = seed,
        };
    }

    /// <summary>
    /// <paramref name="steps"/> SGD steps at <paramref name="lr"/> on batches of <paramref name="batch"/> rows (≥ the training
    /// split: full batch; else rows drawn without replacement per step from the run's own generator, seeded from the seed
    /// and <paramref name="stream"/>), measuring every <paramref name="every"/> steps (and at 0 and the end).
    /// </summary>
    public static Run Steps(Setup s, double lr, int batch, int steps, int every, long stream)
    {
        var probe = new UnitBalanceProbe(s.Model, s.Symmetry, s.FullLoss);
        using var optimizer = torch.optim.SGD(s.Model.parameters(), lr);
        using var generator = new torch.Generator(unchecked((ulong)(s.Seed * 1_000_003 + stream)));
        var n = s.Data.TrainCount;
        probe.Measure(0);
        for (var step = 1; step <= steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            var rows = batch >= n ? null : torch.randperm(n, generator: generator).narrow(0, 0, batch);
            var b = rows is null ? s.Data.Train : s.Data.Train.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, rows));
            optimizer.zero_grad();
            var loss = Trainer.LossOf(s.Train.Loss.Kind, s.Model.Forward(b)[s.Train.Loss.Output], b[s.Train.Loss.Target]);
            loss.backward();
            probe.AfterBackward(lr);
            optimizer.step();
            if (step % every == 0 || step == steps) probe.Measure(step);
        }
        return new Run(s.Seed, lr, batch, steps, probe.Series);
    }

    public static Dictionary<string, Tensor> Snapshot(SymModel model)
    {
        using var _ = torch.no_grad();
        return model.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }

    public static void Dispose(Dictionary<string, Tensor> parameters)
    {
        foreach (var t in parameters.Values) t.Dispose();
    }
}

/// <summary>
/// The README's continuation grid (manual: SYMDSL_BALANCE=DIR, seeds from SYMDSL_BALANCE_SEEDS, default 1,2,3; one process
/// per seed can run in parallel). Width 32; pretraining from the seed's initialisation at lr 0.2, full batch, 2000 steps
/// (lr·steps 400); continuations from those weights at lr 0.025, 0.05, 0.1, 0.2, 0.4 for lr·steps = 20 (full batch), and
/// at lr 0.1 for 200 steps with batch 16, 64, 256. Writes DIR/continuation-sSEEDS.json and .md (the README's tables).
/// </summary>
public class BalanceContinuationGrid(ITestOutputHelper output)
{
    [ManualFact("SYMDSL_BALANCE")]
    [Trait("Category", "Manual")]
    public void Continuation_grid()
    {
        var root = Environment.GetEnvironmentVariable("SYMDSL_BALANCE")!;
        Directory.CreateDirectory(root);
        var seeds = (Environment.GetEnvironmentVariable("SYMDSL_BALANCE_SEEDS") ?? "1,2,3").Split(',').Select(long.Parse).ToArray();
        int width = 32, pretrain = 2000, full = 1438;
        double total = 20, preLr = 0.2, noiseLr = 0.1;
        var lrs = new[] { 0.025, 0.05, 0.1, 0.2, 0.4 };
        var batches = new[] { 16, 64, 256 };
        var runs = new List<BalanceContinuation.Run>();
        var pre = new List<BalanceContinuation.Run>();
        foreach (var seed in seeds)
        {
            using var setup = BalanceContinuation.Load(seed, width);
            pre.Add(BalanceContinuation.Steps(setup, preLr, full, pretrain, 100, 0));
            var start = BalanceContinuation.Snapshot(setup.Model);
            try
            {
                var stream = 1;
                foreach (var lr in lrs)
                {
                    setup.Model.SetEffectiveParameters(start);
                    var steps = (int)Math.Round(total / lr);
                    runs.Add(BalanceContinuation.Steps(setup, lr, full, steps, Math.Max(1, steps / 10), stream++));
                }
                foreach (var b in batches)
                {
                    setup.Model.SetEffectiveParameters(start);
                    var steps = (int)Math.Round(total / noiseLr);
                    runs.Add(BalanceContinuation.Steps(setup, noiseLr, b, steps, Math.Max(1, steps / 10), stream++));
                }
            }
            finally { BalanceContinuation.Dispose(start); }
        }
        var tag = string.Join("", seeds);
        File.WriteAllText(Path.Combine(root, $"continuation-s{tag}.json"), JsonSerializer.Serialize(new { pretrain = pre, runs }, new JsonSerializerOptions { WriteIndented = true }));
        var md = Report(pre, runs, lrs, full);
        File.WriteAllText(Path.Combine(root, $"continuation-s{tag}.md"), md);
        output.WriteLine(md);
    }

    static string F(double v, string f = "F4") => v.ToString(f, CultureInfo.InvariantCulture);

    internal static string Report(List<BalanceContinuation.Run> pre, List<BalanceContinuation.Run> runs, double[] lrs, int full)
    {
        var sb = new StringBuilder();
        sb.AppendLine("Pretraining (full batch): seed | loss first → last | per-unit imbalance mean|ln r_i| first → last | |mean ln r| last");
        foreach (var p in pre)
            sb.AppendLine($"| {p.Seed} | {F(p.Series[0].Loss)} → {F(p.Series[^1].Loss)} | {F(p.Series[0].Unit, "F3")} → {F(p.Series[^1].Unit, "F3")} | {F(p.Series[^1].MeanLog, "F3")} |");
        sb.AppendLine();
        sb.AppendLine("| lr | batch | seed | loss first → last | mean\\|ln r_i\\| first → last | rate | R² | end-point rate | entropic rate (predicted part) | orbit shift of mean\\|ln r_i\\| | Q drift |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in runs)
        {
            var (rate, r2) = r.Rate();
            var q = Math.Abs(r.Series[^1].Q - r.Series[0].Q) / r.Series[0].Q;
            sb.AppendLine($"| {r.Lr} | {(r.Batch == full ? "full" : r.Batch.ToString(CultureInfo.InvariantCulture))} | {r.Seed} | {F(r.Series[0].Loss)} → {F(r.Series[^1].Loss)} | {F(r.Series[0].Unit, "F4")} → {F(r.Series[^1].Unit, "F4")} | {F(rate)} | {F(r2, "F3")} | {F(r.EndRate)} | {F(r.EntropicRate, "F5")} | {F(r.Series[^1].OrbitShift, "F5")} | {F(q * 100, "F3")}% |");
        }
        sb.AppendLine();
        sb.AppendLine("Rate vs lr (full batch), per seed: slope | intercept (lr → 0) | R² | predicted slope (mean e/Unit of the smallest-lr run)");
        foreach (var seed in runs.Select(r => r.Seed).Distinct())
        {
            var s = runs.Where(r => r.Seed == seed && r.Batch == full).OrderBy(r => r.Lr).ToList();
            var (slope, intercept, r2) = BalanceContinuation.Fit([.. s.Select(r => r.Lr)], [.. s.Select(r => r.Rate().rate)]);
            var (eslope, eintercept, er2) = BalanceContinuation.Fit([.. s.Select(r => r.Lr)], [.. s.Select(r => r.EndRate)]);
            sb.AppendLine($"| {seed} | {F(slope)} | {F(intercept)} | {F(r2, "F3")} | {F(s[0].EntropicRate / s[0].Lr)} | end-point: {F(eslope)} / {F(eintercept)} / {F(er2, "F3")} |");
        }
        return sb.ToString();
    }
}
