using System.Text.Json;
using Xunit.Abstractions;

namespace SymDsl.Examples.Tests;

/// <summary>
/// Draws the gallery's combined figures (examples/*/figure.png) from the README runs. Manual: set SYMDSL_FIGURES=DIR,
/// the folder the README commands wrote into (DIR/syre-plain, DIR/syre-syre, DIR/stepwise, …; see each README);
/// does nothing otherwise. Not a claim test.
/// </summary>
public class GalleryFigures(ITestOutputHelper output)
{
    static string? Root => Environment.GetEnvironmentVariable("SYMDSL_FIGURES");

    static void Line(ScottPlot.Plot plt, List<(long step, double value)> s, string label, Func<double, double>? f = null)
    {
        var sc = plt.Add.Scatter(s.Select(p => (double)p.step).ToArray(), s.Select(p => f is null ? p.value : f(p.value)).ToArray());
        sc.MarkerSize = 0;
        sc.LegendText = label;
    }

    static void Save(ScottPlot.Plot plt, string example, string title, string x, string y, bool legendUpperLeft = false)
    {
        if (legendUpperLeft) plt.Legend.Alignment = ScottPlot.Alignment.UpperLeft;
        plt.Title(title);
        plt.XLabel(x);
        plt.YLabel(y);
        plt.ShowLegend();
        plt.SavePng(Path.Combine(Paths.Example(example), "figure.png"), 640, 380);
    }

    /// <summary>examples/crh-resnet/figure.png alone, from DIR/crh-resnet/seed-1 … seed-3 (the README's runs).</summary>
    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void DrawCrhResNet()
    {
        if (Root is not { } root || !Directory.Exists(Path.Combine(root, "crh-resnet"))) return;
        var series = ExampleRun.Series;
        // The alignment of each layer over training, the mean over seeds 1–3.
        var plt = new ScottPlot.Plot();
        var layers = new[] { ("z", "stem"), ("s1", "block1.conv1"), ("block1.h", "block1.conv2"), ("h1", "down"), ("s2", "block2.conv1"), ("block2.h", "block2.conv2"), ("pooled", "head") };
        foreach (var (site, layer) in layers)
        {
            var runs = new[] { 1, 2, 3 }.Select(seed => series(Path.Combine(root, "crh-resnet", $"seed-{seed}"), $"alignment({site})")).ToList();
            var mean = runs[0].Select((p, i) => (p.step, runs.Average(r => r[i].value))).ToList();
            Line(plt, mean, layer);
        }
        var head = series(Path.Combine(root, "crh-resnet", "seed-1"), "alignment(pooled).baseline");
        plt.Add.HorizontalLine(head[0].value, 1, ScottPlot.Colors.Gray, ScottPlot.LinePattern.Dashed);
        Save(plt, "crh-resnet", "CRH alignment per layer, 3 seeds (dashed: head baseline)", "step", "alignment (mean of six)");
    }

    /// <summary>
    /// examples/stepwise-deep-linear/figure.png alone, from DIR/stepwise-grid/grid.json (written by the README's
    /// `grid.py DIR/stepwise-grid`): measured against predicted half-time, every mode, seed, init scale; one colour per depth and spectrum.
    /// </summary>
    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void DrawStepwiseGrid()
    {
        if (Root is not { } root || !File.Exists(Path.Combine(root, "stepwise-grid", "grid.json"))) return;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "stepwise-grid", "grid.json")));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        var plt = new ScottPlot.Plot();
        var max = 0.0;
        foreach (var group in rows.GroupBy(r => (depth: r.GetProperty("depth").GetInt32(), spectrum: r.GetProperty("spectrum").GetString()!)))
        {
            var points = group.SelectMany(r => r.GetProperty("measured").EnumerateArray()
                .Select(m => (p: r.GetProperty("predicted").GetDouble(), m: m.GetDouble()))).Where(x => double.IsFinite(x.m)).ToList();
            var sc = plt.Add.Scatter(points.Select(x => x.p).ToArray(), points.Select(x => x.m).ToArray());
            sc.LineWidth = 0;
            sc.MarkerSize = 6;
            sc.LegendText = $"depth {group.Key.depth}, {(group.Key.spectrum == "gaps" ? "equal gaps" : "ratio " + group.Key.spectrum)}";
            max = Math.Max(max, points.Max(x => Math.Max(x.p, x.m)));
        }
        var diagonal = plt.Add.Line(0, 0, max, max);
        diagonal.LinePattern = ScottPlot.LinePattern.Dashed;
        diagonal.Color = ScottPlot.Colors.Gray;
        Save(plt, "stepwise-deep-linear", "half-time per mode: measured vs predicted", "predicted half-time (steps)", "measured half-time (steps)", legendUpperLeft: true);
    }

    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void Draw()
    {
        if (Root is not { } root) return;
        var series = ExampleRun.Series;

        {   // syre-against-collapse: rank of both hidden layers, plain vs syre (seed 1)
            var plt = new ScottPlot.Plot();
            foreach (var (arm, name) in new[] { ("syre-plain", "plain"), ("syre-syre", "syre") })
                foreach (var site in new[] { "h1", "h2" })
                    Line(plt, series(Path.Combine(root, arm, "seed-1"), $"rank({site})"), $"rank({site}) {name}");
            Save(plt, "syre-against-collapse", "weight decay 0.02: effective rank of the hidden representations", "step", "effective rank");
        }
        // stepwise-deep-linear: DrawStepwiseGrid (from the grid's grid.json).
        {   // conservation: relative change of the conserved quantities (seed 1)
            var plt = new ScottPlot.Plot();
            foreach (var (arm, name) in new[] { ("cons-gd", "full-batch GD"), ("cons-wd", "weight decay"), ("cons-sgd", "minibatch 16") })
                foreach (var key in new[] { "balance(s)", "balance(r)" })
                {
                    var s = series(Path.Combine(root, arm, "seed-1"), key);
                    Line(plt, s, $"{key} {name}", v => v / s[0].value - 1);
                }
            Save(plt, "conservation", "conserved quantities: relative change", "step", "Q(t)/Q(0) − 1", legendUpperLeft: true);
        }
        {   // crh-alignment: alignment at h2 and h3 over training, seeds 1–3, with the paper's random baseline
            var plt = new ScottPlot.Plot();
            foreach (var seed in new[] { 1, 2, 3 })
                foreach (var site in new[] { "h2", "h3" })
                    Line(plt, series(Path.Combine(root, "crh", $"seed-{seed}"), $"alignment({site})"), $"alignment({site}) seed {seed}");
            plt.Add.HorizontalLine(0.14, 1, ScottPlot.Colors.Gray, ScottPlot.LinePattern.Dashed);
            Save(plt, "crh-alignment", "CRH alignment (dashed: random baseline 0.14)", "step", "alignment");
        }
        {   // universal-alignment: CKA per site, trained vs init, for the three seed pairs
            var plt = new ScottPlot.Plot();
            foreach (var (a, b) in new[] { (1, 2), (1, 3), (2, 3) })
            {
                var json = ExampleRun.Symc("compare", Path.Combine(root, "uni", $"seed-{a}"), Path.Combine(root, "uni", $"seed-{b}"), "--json");
                using var doc = JsonDocument.Parse(json);
                var rows = doc.RootElement.EnumerateArray().ToList();
                var xs = Enumerable.Range(1, rows.Count).Select(i => (double)i).ToArray();
                var t = plt.Add.Scatter(xs, rows.Select(r => r.GetProperty("cka").GetDouble()).ToArray()); t.LegendText = $"trained, seeds {a} vs {b}";
                var i0 = plt.Add.Scatter(xs, rows.Select(r => r.GetProperty("cka_init").GetDouble()).ToArray()); i0.LegendText = $"at init, seeds {a} vs {b}";
                i0.LinePattern = ScottPlot.LinePattern.Dashed;
                output.WriteLine($"{a} vs {b}: " + json);
            }
            Save(plt, "universal-alignment", "linear CKA between runs at h1, h2, h3, logits", "site (1 = h1 … 4 = logits)", "CKA");
        }
        {   // induced-symmetry: effective rank of fc1.weight, seed 1
            var plt = new ScottPlot.Plot();
            foreach (var m in new[] { "Plain", "Sparse", "LowRank" })
                Line(plt, series(Path.Combine(root, $"ind-{m}", "seed-1"), "rank(fc1.weight)"), m);
            Save(plt, "induced-symmetry", "effective rank of fc1.weight (same weight decay)", "step", "effective rank");
        }
        {   // ode-rnn: test accuracy against dt per integrator (seed 1, hidden 32, 600 steps)
            var plt = new ScottPlot.Plot();
            double[] dts = [0.25, 0.5, 1, 1.5, 2, 2.5, 3];
            foreach (var integ in new[] { "euler", "rk2", "rk4" })
            {
                var acc = dts.Select(dt => OdeRnnTests.Train(integ, dt, 1, hidden: 32, steps: 600)).ToList();
                foreach (var o in acc) output.WriteLine(o.ToString());
                var sc = plt.Add.Scatter(dts, acc.Select(o => o.Accuracy).ToArray());
                sc.LegendText = integ;
            }
            Save(plt, "ode-rnn", "digits rows as a sequence: accuracy vs step size", "dt", "test accuracy");
        }
    }
    /// <summary>examples/byte-gpt/figure.png from the README's runs in SYMDSL_FIGURES/byte-gpt/seed-{1,2,3}: training loss
    /// (seed 1) and test loss per epoch (each seed) against the text's bigram baselines.</summary>
    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void DrawByteGpt()
    {
        if (Root is not { } root) return;
        var plt = new ScottPlot.Plot();
        var runs = Enumerable.Range(1, 3).Select(seed => (seed, dir: Path.Combine(root, "byte-gpt", $"seed-{seed}"))).ToList();
        Line(plt, ExampleRun.Series(runs[0].dir, "loss"), "training batch loss, seed 1");
        foreach (var (seed, dir) in runs)
        {
            var sc = plt.Add.Scatter(ExampleRun.Series(dir, "test_loss").Select(p => (double)p.step).ToArray(), ExampleRun.Series(dir, "test_loss").Select(p => p.value).ToArray());
            sc.LegendText = $"test loss, seed {seed}";
        }
        var fitted = ExampleRun.SummaryNumber(runs[0].dir, "data_bigram_entropy");
        var own = ExampleRun.SummaryNumber(runs[0].dir, "data_bigram_entropy_test_counts");
        plt.Add.HorizontalLine(fitted, 1, ScottPlot.Colors.Gray, ScottPlot.LinePattern.Dashed).LegendText = $"bigram H(next | current), train counts: {fitted:F3}";
        plt.Add.HorizontalLine(own, 1, ScottPlot.Colors.Black, ScottPlot.LinePattern.Dotted).LegendText = $"bigram, test counts: {own:F3}";
        plt.Axes.SetLimitsY(1.0, 4.0);
        plt.Legend.Alignment = ScottPlot.Alignment.UpperRight;
        Save(plt, "byte-gpt", "two-block byte-level transformer on Genesis + Exodus (KJV)", "step", "nats per byte");
    }

    /// <summary>examples/resnet/figure.png from the README's runs in SYMDSL_FIGURES/resnet/seed-{1,2,3}: test accuracy per
    /// epoch and alignment(pooled) for each seed, and rank(pooled) as a fraction of its 48 channels (seed 1).</summary>
    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void DrawResNet()
    {
        if (Root is not { } root) return;
        var plt = new ScottPlot.Plot();
        foreach (var seed in new[] { 1, 2, 3 })
        {
            var dir = Path.Combine(root, "resnet", $"seed-{seed}");
            var acc = ExampleRun.Series(dir, "test_accuracy");
            var sc = plt.Add.Scatter(acc.Select(p => (double)p.step).ToArray(), acc.Select(p => p.value).ToArray());
            sc.LegendText = $"test accuracy, seed {seed}";
            Line(plt, ExampleRun.Series(dir, "alignment(pooled)"), $"alignment(pooled), seed {seed}");
        }
        Line(plt, ExampleRun.Series(Path.Combine(root, "resnet", "seed-1"), "rank(pooled)"), "rank(pooled) / 48, seed 1", v => v / 48);
        plt.Axes.SetLimitsY(0, 1);
        plt.Legend.Alignment = ScottPlot.Alignment.LowerRight;
        Save(plt, "resnet", "residual conv net on Fashion-MNIST (blocks, BatchNorm)", "step", "");
    }

    /// <summary>examples/syre-conv/figure.png from its README runs (DIR/syre-conv-plain, DIR/syre-conv-syre): rank(h2) and collapsed channels per seed.</summary>
    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void DrawSyreConv()
    {
        if (Root is not { } root) return;
        var plt = new ScottPlot.Plot();
        foreach (var (arm, name, color) in new[] { ("syre-conv-plain", "plain", ScottPlot.Colors.OrangeRed), ("syre-conv-syre", "syre", ScottPlot.Colors.RoyalBlue) })
            foreach (var seed in new[] { 1, 2, 3 })
            {
                var dir = Path.Combine(root, arm, $"seed-{seed}");
                var rank = ExampleRun.Series(dir, "rank(h2)");
                var r = plt.Add.Scatter(rank.Select(p => (double)p.step).ToArray(), rank.Select(p => p.value).ToArray());
                r.MarkerSize = 0;
                r.Color = color;
                var c1 = ExampleRun.Series(dir, "collapse(s1)");
                var c2 = ExampleRun.Series(dir, "collapse(s2)");
                var c = plt.Add.Scatter(c1.Select(p => (double)p.step).ToArray(), c1.Zip(c2, (a, b) => a.value + b.value).ToArray());
                c.MarkerSize = 0;
                c.Color = color;
                c.LinePattern = ScottPlot.LinePattern.Dashed;
                c.Axes.YAxis = plt.Axes.Right;
                if (seed == 1) { r.LegendText = $"rank(h2) {name}"; c.LegendText = $"collapsed channels {name} (right)"; }
            }
        plt.Axes.Right.Label.Text = "collapsed channels (dashed)";
        plt.Legend.Alignment = ScottPlot.Alignment.UpperRight;
        Save(plt, "syre-conv", "conv net, wd 0.02, seeds 1-3: rank(h2), collapsed channels", "step", "effective rank of h2");
    }
    /// <summary>examples/gradient-balance/figure.png from DIR/balance (run_grid.sh's OUT): seed 1, x = lr·step.</summary>
    [ManualFact("SYMDSL_FIGURES")]
    [Trait("Category", "Manual")]
    public void DrawGradientBalance()
    {
        if (Root is not { } root || !Directory.Exists(Path.Combine(root, "balance"))) return;
        var plt = new ScottPlot.Plot();
        foreach (var lr in new[] { "0.025", "0.1", "0.4" })
        {
            var run = Path.Combine(root, "balance", $"lr{lr}-s1");
            double eta = double.Parse(lr, System.Globalization.CultureInfo.InvariantCulture);
            var m = ExampleRun.Series(run, "balance(s).log_ratio");
            var q = ExampleRun.Series(run, "balance(s)");
            var lm = plt.Add.Scatter(m.Select(p => eta * p.step).ToArray(), m.Select(p => Math.Abs(p.value)).ToArray());
            lm.LegendText = $"lr {lr}: |mean ln r|";
            var lq = plt.Add.Scatter(q.Select(p => eta * p.step).ToArray(), q.Select(p => 100 * (p.value - q[0].value) / q[0].value).ToArray());
            lq.LegendText = $"lr {lr}: Q change %";
            lq.LinePattern = ScottPlot.LinePattern.Dashed;
            lq.Color = lm.Color;
            lq.Axes.YAxis = plt.Axes.Right;
        }
        plt.Axes.Right.Label.Text = "Q change % (dashed)";
        Save(plt, "gradient-balance", "equal lr*steps (seed 1): imbalance vs Q drift", "lr * step", "|mean ln r_i| (solid)");
    }
}
