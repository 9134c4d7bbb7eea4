using SymDsl.Bench;

namespace SymDsl.Bench.Tests;

public sealed class AgreeTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "symdsl-agree-tests", Guid.NewGuid().ToString("N"));

    public AgreeTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    string Results(string name, double syre, double mlp, double wide, string extra = "")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, $$"""
            {
              "machine": { "cores": 2 },
              "compiled_vs_handwritten": {{mlp}},
              "compiled_vs_handwritten_detail": { "mlp": { "median": {{mlp}}, "ci_low": 0.99, "ci_high": 1.01, "pairs": 40 } },
              "syre_overhead": {{syre}},
              "syre_overhead_detail": { "median": {{syre}}, "ci_low": "NaN", "ci_high": "NaN", "pairs": 3,
                                        "cpu": { "median": 9.0, "ci_low": 8, "ci_high": 10 } },
              "widths": { "syre_overhead": { "2048": { "median": {{wide}}, "ci_low": 1.0, "ci_high": 1.1 } } }{{extra}}
            }
            """);
        return path;
    }

    [Fact]
    public void FindsEveryRatioByItsPath()
    {
        var ratios = Agree.Ratios(Results("a.json", 1.05, 1.0, 1.02));
        Assert.Equal(["compiled_vs_handwritten.mlp", "syre_overhead", "widths.syre_overhead.2048"], ratios.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(1.05, ratios["syre_overhead"].Median);
        Assert.True(double.IsNaN(ratios["syre_overhead"].Low));
    }

    [Fact]
    public void PassesWithinTwoPercentAndFailsBeyond()
    {
        string a = Results("a.json", 1.050, 1.000, 1.020);
        var output = new StringWriter();
        Assert.Equal(0, Agree.Run(a, Results("b.json", 1.065, 0.985, 1.030), output));
        Assert.Contains("3 of 3 ratios agree", output.ToString());
        Assert.EndsWith("PASS (intervals overlap)", output.ToString().Split('\n').Single(l => l.StartsWith("compiled_vs_handwritten.mlp ")).TrimEnd());
        Assert.EndsWith("PASS", output.ToString().Split('\n').Single(l => l.StartsWith("syre_overhead ")).TrimEnd()); // no interval: nothing said

        output = new StringWriter();
        Assert.Equal(1, Agree.Run(a, Results("c.json", 1.080, 1.000, 1.020), output));
        var line = output.ToString().Split('\n').Single(l => l.StartsWith("syre_overhead "));
        Assert.Contains("+2.9%", line);
        Assert.EndsWith("FAIL", line.TrimEnd()); // (its intervals are NaN: no overlap verdict)
        Assert.Contains("2 of 3 ratios agree", output.ToString());
    }

    [Fact]
    public void RatiosInOnlyOneFileAreListedNotJudged()
    {
        string a = Results("a.json", 1.05, 1.0, 1.02);
        string b = Results("b.json", 1.05, 1.0, 1.02, """, "diagnostics_overhead_every10_detail": { "median": 3.0, "ci_low": 2.9, "ci_high": 3.1 }""");
        var output = new StringWriter();
        Assert.Equal(0, Agree.Run(a, b, output));
        Assert.Contains("only in B", output.ToString().Split('\n').Single(l => l.StartsWith("diagnostics_overhead_every10 ")));
    }

    [Fact]
    public void AMissingFileIsABadInputNotACrash()
    {
        Assert.Equal(2, Agree.Run(Path.Combine(_dir, "none.json"), Results("b.json", 1, 1, 1), new StringWriter()));
    }
}
