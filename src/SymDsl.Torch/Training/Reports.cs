using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.Text;

namespace SymDsl.Torch.Training;

/// <summary>PNG plots (ScottPlot) and the one-page report.html of a run.</summary>
public static class Reports
{
    /// <summary>Numeric series by key from metrics.jsonl lines: key → (step, value) pairs.</summary>
    public static Dictionary<string, List<(double step, double value)>> Series(IEnumerable<string> metricsLines)
    {
        var series = new Dictionary<string, List<(double, double)>>();
        foreach (var line in metricsLines)
        {
            using var doc = JsonDocument.Parse(line);
            if (!doc.RootElement.TryGetProperty("step", out var stepEl)) continue;
            var step = stepEl.GetDouble();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "step" || p.Value.ValueKind != JsonValueKind.Number) continue;
                var v = p.Value.GetDouble();
                if (!double.IsFinite(v)) continue;
                if (!series.TryGetValue(p.Name, out var list)) series[p.Name] = list = new();
                list.Add((step, v));
            }
        }
        return series;
    }

    public static string PlotFileName(string key)
    {
        var sb = new StringBuilder();
        foreach (var c in key) sb.Append(char.IsLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        return sb.ToString().Trim('_') + ".png";
    }

    /// <summary>Writes one PNG per plotted key into DIR/plots; returns (title, relative path) pairs.</summary>
    public static List<(string title, string file)> WritePlots(string outDir, IEnumerable<string> metricsLines)
    {
        var plotsDir = Path.Combine(outDir, "plots");
        Writing(plotsDir, () => Directory.CreateDirectory(plotsDir));
        var series = Series(metricsLines);
        var written = new List<(string, string)>();
        // The loss curve (with the test loss when present), the accuracy, then every other numeric key.
        var order = new List<string>();
        if (series.ContainsKey("loss")) order.Add("loss");
        if (series.ContainsKey("test_accuracy")) order.Add("test_accuracy");
        // lr only when a schedule makes it move.
        order.AddRange(series.Keys.Where(k => k is not ("loss" or "test_loss" or "test_accuracy" or "epoch"))
            .Where(k => k != "lr" || series[k].Select(p => p.value).Distinct().Count() > 1)
            .OrderBy(k => k, StringComparer.Ordinal));
        foreach (var key in order)
        {
            var plt = new ScottPlot.Plot();
            AddLine(plt, series[key], key);
            if (key == "loss" && series.TryGetValue("test_loss", out var test)) AddLine(plt, test, "test_loss");
            plt.Title(key);
            plt.XLabel("step");
            plt.YLabel(key);
            if (key == "loss") plt.ShowLegend();
            var file = Path.Combine("plots", PlotFileName(key));
            var path = Path.Combine(outDir, file);
            Writing(path, () => AtomicFile.WriteVia(path, tmp => plt.SavePng(tmp, 720, 420)));
            written.Add((key, file));
        }
        return written;
    }

    static void AddLine(ScottPlot.Plot plt, List<(double step, double value)> pts, string label)
    {
        var sc = plt.Add.Scatter(pts.Select(p => p.step).ToArray(), pts.Select(p => p.value).ToArray());
        sc.MarkerSize = pts.Count > 50 ? 0 : 4;
        sc.LegendText = label;
    }

    public static void WriteHtml(string outDir, string title, TrainSummary summary, List<(string title, string file)> plots, string? symmetryMarkdown)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(Enc(title)).Append("</title>\n");
        sb.Append("<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}img{max-width:100%;margin:1em 0}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}</style>\n");
        sb.Append("</head><body>\n<h1>").Append(Enc(title)).Append("</h1>\n<h2>Summary</h2>\n<table>\n");
        foreach (var (k, v) in summary.Values)
            sb.Append("<tr><th>").Append(Enc(k)).Append("</th><td>").Append(Enc(Format(v))).Append("</td></tr>\n");
        sb.Append("</table>\n");
        if (summary.Events.Count > 0)
        {
            sb.Append("<h2>Events</h2>\n<table><tr><th>step</th><th>kind</th><th>message</th></tr>\n");
            foreach (var e in summary.Events)
                sb.Append("<tr><td>").Append(e.Step).Append("</td><td>").Append(Enc(e.Kind)).Append("</td><td>").Append(Enc(e.Message)).Append("</td></tr>\n");
            sb.Append("</table>\n");
        }
        if (plots.Count > 0)
        {
            sb.Append("<h2>Plots</h2>\n");
            foreach (var (t, file) in plots)
            {
                var b64 = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(outDir, file)));
                sb.Append("<h3>").Append(Enc(t)).Append("</h3>\n<img alt=\"").Append(Enc(t)).Append("\" src=\"data:image/png;base64,").Append(b64).Append("\">\n");
            }
        }
        if (!string.IsNullOrWhiteSpace(symmetryMarkdown))
            sb.Append("<h2>Symmetry report</h2>\n<pre>").Append(Enc(symmetryMarkdown)).Append("</pre>\n");
        sb.Append("</body></html>\n");
        var report = Path.Combine(outDir, "report.html");
        Writing(report, () => AtomicFile.WriteAllText(report, sb.ToString()));
    }

    /// <summary><see cref="AtomicFile.WriteAllText"/>, with a failure reported as <see cref="CannotWrite"/>.</summary>
    public static void WriteAtomically(string path, string text) => Writing(path, () => AtomicFile.WriteAllText(path, text));

    /// <summary>The one-line error for a failed write: "cannot write PATH: reason" (the reason without .NET's repeat of the path).</summary>
    public static SymDslException CannotWrite(string path, Exception e)
    {
        // .NET appends " : 'PATH'" (the path it used, perhaps a temporary file's): the message names the file already.
        var reason = System.Text.RegularExpressions.Regex.Replace(e.Message.Trim(), @"\s*:\s*'[^']*'$", "");
        return new SymDslException($"cannot write {path}: {reason}", e);
    }

    static void Writing(string path, Action write)
    {
        try { write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CannotWrite(path, e);
        }
    }

    static string Enc(string s) => WebUtility.HtmlEncode(s);
    static string Format(object? v) => v switch
    {
        null => "—",
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        float f => f.ToString("G6", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        System.Collections.IEnumerable e and not string => JsonSerializer.Serialize(e),
        _ => v.ToString() ?? "",
    };
}
