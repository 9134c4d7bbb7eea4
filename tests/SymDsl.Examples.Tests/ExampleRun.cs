using System.Text.Json;
using SymDsl.Cli;

namespace SymDsl.Examples.Tests;

/// <summary>
/// Runs an example's fast variant in-process (symc train via <see cref="SymcApp.Run"/>) into a temp directory and reads
/// back metrics.jsonl and summary.json. The examples' claims are asserted on these numbers.
/// </summary>
internal static class ExampleRun
{
    static ExampleRun()
    {
        // The fast variants train tiny models; with one OpenMP thread per process they run several times faster on a
        // shared 2-core machine (the many-threaded default spins against other processes).
        TorchSharp.torch.set_num_threads(1);
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-examples", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>symc ARGS; fails the test with symc's output when it does not exit 0.</summary>
    public static string Symc(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = SymcApp.Run(args, stdout, stderr);
        Assert.True(code == 0, $"symc {string.Join(' ', args)} exited {code}\n{stdout}\n{stderr}");
        return stdout.ToString();
    }

    /// <summary>symc train FILE --out OUT EXTRA…, FILE relative to examples/. Returns OUT.</summary>
    public static string Train(string exampleFile, string outDir, params string[] extra)
    {
        Symc(["train", Paths.Example(exampleFile), "--out", outDir, .. extra]);
        return outDir;
    }

    /// <summary>Every line of RUN/metrics.jsonl as key → number (non-numbers left out).</summary>
    public static List<Dictionary<string, double>> Metrics(string runDir)
    {
        var rows = new List<Dictionary<string, double>>();
        foreach (var line in File.ReadLines(Path.Combine(runDir, "metrics.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var row = new Dictionary<string, double>();
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Number) row[p.Name] = p.Value.GetDouble();
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The rows that carry <paramref name="key"/>, as (step, value).</summary>
    public static List<(long step, double value)> Series(string runDir, string key) =>
        Metrics(runDir).Where(r => r.ContainsKey(key)).Select(r => ((long)r["step"], r[key])).ToList();

    /// <summary>The last value of <paramref name="key"/> in metrics.jsonl.</summary>
    public static double Final(string runDir, string key) => Series(runDir, key).Last().value;

    /// <summary>The first value of <paramref name="key"/> in metrics.jsonl (step 1: the diagnostics run after the first step).</summary>
    public static double First(string runDir, string key) => Series(runDir, key).First().value;

    public static JsonElement Summary(string runDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")));
        return doc.RootElement.Clone();
    }

    public static double SummaryNumber(string runDir, string key) => Summary(runDir).GetProperty(key).GetDouble();

    /// <summary>summary.json's events as (step, kind, value).</summary>
    public static List<(long step, string kind, double value)> Events(string runDir) =>
        Summary(runDir).GetProperty("events").EnumerateArray()
            .Select(e => (e.GetProperty("step").GetInt64(), e.GetProperty("kind").GetString()!, e.GetProperty("value").GetDouble()))
            .ToList();
}
