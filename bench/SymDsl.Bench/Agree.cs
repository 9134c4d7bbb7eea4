using System.Globalization;
using System.Text.Json;

namespace SymDsl.Bench;

/// <summary>
/// bench/agree A.json B.json: every ratio of two results.json files side by side (each object with median, ci_low and
/// ci_high, found wherever it sits: a key's _detail, a compiled case, a width of the sweep), B's median against A's as a
/// relative difference, PASS within ±2 % and FAIL beyond. Exit 0 when every ratio present in both agrees, 1 when one does
/// not, 2 on bad usage or unreadable input. Ratios in only one of the files are listed and not judged.
/// </summary>
public static class Agree
{
    public const double Tolerance = 0.02;

    public static int Run(string pathA, string pathB, TextWriter output)
    {
        Dictionary<string, (double Median, double Low, double High)> a, b;
        try
        {
            a = Ratios(pathA);
            b = Ratios(pathB);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            Console.Error.WriteLine($"bench/agree: {e.Message}");
            return 2;
        }
        int failed = 0, compared = 0;
        output.WriteLine($"{"ratio",-56} {"A",22} {"B",22} {"B/A-1",8}  verdict (±{Tolerance:P0})");
        foreach (var key in a.Keys.Union(b.Keys).OrderBy(k => k, StringComparer.Ordinal))
        {
            bool inA = a.TryGetValue(key, out var ra), inB = b.TryGetValue(key, out var rb);
            if (!inA || !inB)
            {
                output.WriteLine($"{key,-56} {(inA ? Show(ra) : "—"),22} {(inB ? Show(rb) : "—"),22} {"",8}  only in {(inA ? "A" : "B")}");
                continue;
            }
            double diff = rb.Median / ra.Median - 1;
            bool pass = Math.Abs(diff) <= Tolerance;
            compared++;
            if (!pass) failed++;
            // Whether the two 95 % intervals overlap: a FAIL whose intervals overlap is a difference the runs' own noise allows.
            string overlap = double.IsNaN(ra.Low) || double.IsNaN(rb.Low) ? "" : ra.Low <= rb.High && rb.Low <= ra.High ? " (intervals overlap)" : " (intervals disjoint)";
            output.WriteLine($"{key,-56} {Show(ra),22} {Show(rb),22} {diff,8:+0.0%;-0.0%;0.0%}  {(pass ? "PASS" : "FAIL")}{overlap}");
        }
        output.WriteLine(compared == 0 ? "no ratio in common" : $"{compared - failed} of {compared} ratios agree within ±{Tolerance:P0}{(failed == 0 ? "" : $"; {failed} do not")}");
        return failed == 0 && compared > 0 ? 0 : 1;
    }

    static string Show((double Median, double Low, double High) r) =>
        string.Create(CultureInfo.InvariantCulture, $"{r.Median:F3} [{r.Low:F3},{r.High:F3}]");

    /// <summary>Every object with median, ci_low and ci_high, by its path (a key's "_detail" suffix dropped).</summary>
    public static Dictionary<string, (double Median, double Low, double High)> Ratios(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var found = new Dictionary<string, (double, double, double)>();
        Walk(doc.RootElement, "", found);
        return found;
    }

    static void Walk(JsonElement e, string path, Dictionary<string, (double, double, double)> found)
    {
        if (e.ValueKind != JsonValueKind.Object) return;
        if (e.TryGetProperty("median", out var m) && e.TryGetProperty("ci_low", out var lo) && e.TryGetProperty("ci_high", out var hi)
            && m.ValueKind == JsonValueKind.Number)
        {
            found[path] = (m.GetDouble(), Number(lo), Number(hi));
            return;
        }
        foreach (var p in e.EnumerateObject())
        {
            string name = p.Name.EndsWith("_detail", StringComparison.Ordinal) ? p.Name[..^"_detail".Length] : p.Name;
            Walk(p.Value, path.Length == 0 ? name : path + "." + name, found);
        }
    }

    // NaN (too few pairs for an interval) is written as a string by the serializer's named-literal handling, or absent.
    static double Number(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number ? e.GetDouble()
        : e.ValueKind == JsonValueKind.String && double.TryParse(e.GetString(), CultureInfo.InvariantCulture, out var v) ? v : double.NaN;
}
