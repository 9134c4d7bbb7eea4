using System.Globalization;
using ScottPlot;

namespace SymDsl.Bench;

/// <summary>
/// bench/out/overhead-vs-width.png: the diagnostics (every 10 steps) and syre overhead ratios against the MLP's width,
/// each point the median pair ratio with its 95 % interval as an error bar, and each target as a dashed line. Two
/// panels, since the two ratios differ in scale. Width on a log₂ axis.
/// </summary>
public static class WidthPlot
{
    public static void Write(string path, IReadOnlyList<int> widths, Func<int, Dictionary<string, object?>> diagnostics, Func<int, Dictionary<string, object?>> syre)
    {
        var multiplot = new ScottPlot.Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        Panel(multiplot.GetPlot(0), widths, diagnostics, "diagnostics every 10 steps", 1.10, ScottPlot.Colors.C0);
        Panel(multiplot.GetPlot(1), widths, syre, "syre", 1.03, ScottPlot.Colors.C1);
        multiplot.SavePng(path, 1200, 480);
    }

    static void Panel(ScottPlot.Plot plt, IReadOnlyList<int> widths, Func<int, Dictionary<string, object?>> ratio, string title, double target, ScottPlot.Color color)
    {
        var xs = widths.Select(w => Math.Log2(w)).ToArray();
        var ds = widths.Select(ratio).ToArray();
        var med = ds.Select(d => (double)d["median"]!).ToArray();
        var lo = ds.Select((d, i) => Math.Max(0, med[i] - Num(d["ci_low"], med[i]))).ToArray();
        var hi = ds.Select((d, i) => Math.Max(0, Num(d["ci_high"], med[i]) - med[i])).ToArray();
        var bars = plt.Add.ErrorBar(xs, med, lo);
        bars.YErrorNegative = lo;
        bars.YErrorPositive = hi;
        bars.Color = color;
        var line = plt.Add.Scatter(xs, med);
        line.Color = color;
        line.LegendText = "median pair ratio, 95 % interval";
        var t = plt.Add.HorizontalLine(target);
        t.LinePattern = ScottPlot.LinePattern.Dashed;
        t.Color = ScottPlot.Colors.Gray;
        t.LegendText = $"target ≤ {target.ToString("F2", CultureInfo.InvariantCulture)}";
        var one = plt.Add.HorizontalLine(1.0);
        one.Color = ScottPlot.Colors.LightGray;
        plt.Axes.Bottom.SetTicks(xs, widths.Select(w => w.ToString(CultureInfo.InvariantCulture)).ToArray());
        plt.Axes.Bottom.Label.Text = "hidden width (examples/mlp.sym, 64-width-10, batch 64)";
        plt.Axes.Left.Label.Text = "time per step, with / without";
        plt.Title($"{title}: overhead against width");
        double top = med.Select((m, i) => m + hi[i]).Append(target).Max();
        double bottom = med.Select((m, i) => m - lo[i]).Append(1.0).Min();
        plt.Axes.SetLimits(xs.Min() - 0.5, xs.Max() + 0.5, bottom - 0.05 * (top - bottom) - 0.01, top + 0.08 * (top - bottom) + 0.01);
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
    }

    static double Num(object? v, double fallback) => v is double d && double.IsFinite(d) ? d : fallback;
}
