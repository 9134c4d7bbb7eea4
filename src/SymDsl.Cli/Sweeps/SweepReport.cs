using System.Globalization;
using System.Net;
using System.Text;
using CsvHelper;
using SymDsl.Text;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Sweeps;

/// <summary>One row of sweep.csv: a cell, its status and its final numbers.</summary>
public sealed record SweepRow(SweepCell Cell, CellStatus Status, IReadOnlyDictionary<string, double> Metrics, double? WallSeconds, long? Steps, string? Error);

/// <summary>DIR/sweep.csv (one row per cell) and DIR/sweep.html (each final metric against each swept hyper-parameter).</summary>
public static class SweepReport
{
    public const string CsvFileName = "sweep.csv";
    public const string HtmlFileName = "sweep.html";
    public const string PlotsDir = "plots";

    /// <summary>Every cell of the sweep as its directory shows it now.</summary>
    public static List<SweepRow> Rows(SweepSpec spec, string sweepDir)
    {
        var rows = new List<SweepRow>();
        foreach (var cell in spec.Cells())
        {
            var dir = Path.Combine(sweepDir, cell.Name);
            var status = CellFiles.StatusOf(dir);
            if (status == CellStatus.Done)
            {
                var (metrics, wall, steps) = CellFiles.Results(dir);
                rows.Add(new SweepRow(cell, status, metrics, wall, steps, null));
            }
            else rows.Add(new SweepRow(cell, status, new Dictionary<string, double>(), null, null, status == CellStatus.Failed ? CellFiles.ErrorOf(dir) : null));
        }
        return rows;
    }

    /// <summary>The metric columns: summary.json's numbers first, then the diagnostics' final values by name.</summary>
    public static List<string> MetricNames(IEnumerable<SweepRow> rows)
    {
        var present = rows.SelectMany(r => r.Metrics.Keys).ToHashSet(StringComparer.Ordinal);
        return CellFiles.SummaryMetrics.Where(present.Contains)
            .Concat(present.Where(k => !CellFiles.SummaryMetrics.Contains(k)).OrderBy(k => k, StringComparer.Ordinal))
            .ToList();
    }

    /// <summary>Writes sweep.csv and sweep.html (with PNGs in DIR/plots); returns their paths.</summary>
    public static (string Csv, string Html) Write(SweepSpec spec, string sweepDir, IReadOnlyList<SweepRow> rows)
    {
        var csv = Path.Combine(sweepDir, CsvFileName);
        var html = Path.Combine(sweepDir, HtmlFileName);
        var metrics = MetricNames(rows);
        Reports.WriteAtomically(csv, Csv(spec, rows, metrics));
        var plots = WritePlots(spec, sweepDir, rows, metrics);
        Reports.WriteAtomically(html, Html(spec, sweepDir, rows, metrics, plots));
        return (csv, html);
    }

    static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Columns: cell, one per swept hyper-parameter, seed, status, the final metrics, steps, wall_seconds, error.</summary>
    public static string Csv(SweepSpec spec, IReadOnlyList<SweepRow> rows, IReadOnlyList<string> metrics)
    {
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        using (var writer = new CsvWriter(text, CultureInfo.InvariantCulture))
        {
            writer.WriteField("cell");
            foreach (var axis in spec.Axes) writer.WriteField(axis.Name);
            writer.WriteField("seed");
            writer.WriteField("status");
            foreach (var m in metrics) writer.WriteField(m);
            writer.WriteField("steps");
            writer.WriteField("wall_seconds");
            writer.WriteField("error");
            writer.NextRecord();
            foreach (var row in rows)
            {
                writer.WriteField(row.Cell.Name);
                foreach (var axis in spec.Axes) writer.WriteField(row.Cell.Values.First(kv => kv.Key == axis.Name).Value);
                writer.WriteField(row.Cell.Seed.ToString(CultureInfo.InvariantCulture));
                writer.WriteField(CellFiles.Word(row.Status));
                foreach (var m in metrics) writer.WriteField(row.Metrics.TryGetValue(m, out var v) ? Number(v) : "");
                writer.WriteField(row.Steps?.ToString(CultureInfo.InvariantCulture) ?? "");
                writer.WriteField(row.WallSeconds is { } w ? w.ToString("F3", CultureInfo.InvariantCulture) : "");
                writer.WriteField(row.Error ?? "");
                writer.NextRecord();
            }
        }
        return text.ToString();
    }

    /// <summary>Mean and sample standard deviation (0 for one value).</summary>
    public static (double Mean, double Sd) MeanSd(IReadOnlyList<double> xs)
    {
        double m = xs.Average();
        return (m, xs.Count > 1 ? Math.Sqrt(xs.Sum(x => (x - m) * (x - m)) / (xs.Count - 1)) : 0);
    }

    /// <summary>
    /// One PNG per (metric, swept hyper-parameter): x = the hyper-parameter's values (in numeric order when all are
    /// numbers, else as given), y = the metric's mean over seeds with ± sd bars, one line per combination of the other
    /// hyper-parameters. Only finished cells count.
    /// </summary>
    static List<(string Title, string File)> WritePlots(SweepSpec spec, string sweepDir, IReadOnlyList<SweepRow> rows, IReadOnlyList<string> metrics)
    {
        var written = new List<(string, string)>();
        var done = rows.Where(r => r.Status == CellStatus.Done).ToList();
        if (done.Count == 0 || spec.Axes.Count == 0) return written;
        Directory.CreateDirectory(Path.Combine(sweepDir, PlotsDir));
        foreach (var metric in metrics)
            foreach (var axis in spec.Axes)
            {
                var order = OrderedValues(axis);
                var plt = new ScottPlot.Plot();
                var groups = done.Where(r => r.Metrics.ContainsKey(metric))
                    .GroupBy(r => string.Join(", ", r.Cell.Values.Where(kv => kv.Key != axis.Name).Select(kv => $"{kv.Key}={kv.Value}")))
                    .OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
                if (groups.Count == 0) continue;
                foreach (var g in groups)
                {
                    var points = order.Select((v, i) => (X: (double)i, Ys: g.Where(r => r.Cell.Values.First(kv => kv.Key == axis.Name).Value == v).Select(r => r.Metrics[metric]).ToList()))
                        .Where(p => p.Ys.Count > 0)
                        .Select(p => (p.X, Stats: MeanSd(p.Ys)))
                        .ToList();
                    var xs = points.Select(p => p.X).ToArray();
                    var ys = points.Select(p => p.Stats.Mean).ToArray();
                    var sc = plt.Add.Scatter(xs, ys);
                    sc.MarkerSize = 6;
                    if (g.Key.Length > 0) sc.LegendText = g.Key;
                    var bars = plt.Add.ErrorBar(xs, ys, points.Select(p => p.Stats.Sd).ToArray());
                    bars.Color = sc.Color;
                }
                plt.Axes.Bottom.SetTicks(order.Select((_, i) => (double)i).ToArray(), order.ToArray());
                plt.Axes.SetLimitsX(-0.5, order.Count - 0.5);
                plt.Title($"{metric} vs {axis.Name} (mean ± sd over {spec.Seeds.Count} seed{(spec.Seeds.Count == 1 ? "" : "s")})");
                plt.XLabel(axis.Name);
                plt.YLabel(metric);
                if (groups.Count > 1) plt.ShowLegend();
                var file = Path.Combine(PlotsDir, Reports.PlotFileName($"{metric}-vs-{axis.Name}"));
                var path = Path.Combine(sweepDir, file);
                try { AtomicFile.WriteVia(path, tmp => plt.SavePng(tmp, 640, 400)); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Reports.CannotWrite(path, e); }
                written.Add(($"{metric} vs {axis.Name}", file));
            }
        return written;
    }

    /// <summary>An axis's values in numeric order when all are numbers, else in the order given.</summary>
    static List<string> OrderedValues(SweepAxis axis)
    {
        var numbers = axis.Values.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : (double?)null).ToList();
        return numbers.All(n => n is not null)
            ? axis.Values.Zip(numbers).OrderBy(p => p.Second!.Value).Select(p => p.First).ToList()
            : axis.Values.ToList();
    }

    static string Html(SweepSpec spec, string sweepDir, IReadOnlyList<SweepRow> rows, IReadOnlyList<string> metrics, List<(string Title, string File)> plots)
    {
        static string Enc(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        var title = $"Sweep of {Path.GetFileName(spec.Source)}";
        sb.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(Enc(title)).Append("</title>\n");
        sb.Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}img{max-width:100%;margin:1em 0}</style>\n");
        sb.Append("</head><body>\n<h1>").Append(Enc(title)).Append("</h1>\n<p>");
        sb.Append(Enc($"{rows.Count} cells: {string.Join(", ", spec.Axes.Select(a => $"{a.Name} ∈ {{{string.Join(", ", a.Values)}}}"))}"
            + $"{(spec.Axes.Count > 0 ? " × " : "")}seeds {string.Join(", ", spec.Seeds)}"
            + (spec.Fixed.Count > 0 ? $"; fixed {string.Join(" ", spec.Fixed.Select(kv => $"{kv.Key}={kv.Value}"))}" : "")));
        sb.Append(Enc($". {rows.Count(r => r.Status == CellStatus.Done)} done, {rows.Count(r => r.Status == CellStatus.Failed)} failed, {rows.Count(r => r.Status is not (CellStatus.Done or CellStatus.Failed))} not finished."));
        sb.Append("</p>\n");
        foreach (var (t, file) in plots)
        {
            var b64 = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(sweepDir, file)));
            sb.Append("<h3>").Append(Enc(t)).Append("</h3>\n<img alt=\"").Append(Enc(t)).Append("\" src=\"data:image/png;base64,").Append(b64).Append("\">\n");
        }
        sb.Append("<h2>Cells</h2>\n<table><tr><th>cell</th><th>status</th>");
        foreach (var m in metrics) sb.Append("<th>").Append(Enc(m)).Append("</th>");
        sb.Append("<th>wall_seconds</th><th>error</th></tr>\n");
        foreach (var r in rows)
        {
            sb.Append("<tr><td>").Append(Enc(r.Cell.Name)).Append("</td><td>").Append(CellFiles.Word(r.Status)).Append("</td>");
            foreach (var m in metrics) sb.Append("<td>").Append(r.Metrics.TryGetValue(m, out var v) ? v.ToString("G5", CultureInfo.InvariantCulture) : "").Append("</td>");
            sb.Append("<td>").Append(r.WallSeconds is { } w ? w.ToString("F1", CultureInfo.InvariantCulture) : "").Append("</td><td>").Append(Enc(r.Error ?? "")).Append("</td></tr>\n");
        }
        sb.Append("</table>\n</body></html>\n");
        return sb.ToString();
    }
}
