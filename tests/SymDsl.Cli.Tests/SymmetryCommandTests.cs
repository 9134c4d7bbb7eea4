using System.Globalization;
using System.Text.Json;

namespace SymDsl.Cli.Tests;

public class SymmetryCommandTests
{
    [Fact]
    public void Verify_confirms_every_symmetry_of_the_main_example()
    {
        var r = Symc.Run("check", Paths.Example("mlp.sym"), "--verify");
        Assert.True(r.ExitCode == 0, r.All);
        var lines = r.Out.Split('\n').Where(l => l.TrimStart().StartsWith("verified", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, lines.Count); // perm, scale, and the inferred translation(logits)
        Assert.DoesNotContain("FAILED", r.Out);
    }

    [Theory]
    [InlineData("", true)]            // default eps = 1e-5: scale(z) holds approximately
    [InlineData(", eps = 0.0", false)] // eps = 0: exactly
    public void Scale_before_a_layer_norm_is_exact_only_without_eps(string epsArgument, bool approximate)
    {
        string path = Symc.WriteTemp("ln.sym", $$"""
            model N {
                input x: [6]
                layer a = Linear(6, 8)
                layer ln = LayerNorm(8{{epsArgument}})
                layer b = Linear(8, 3)
                z = a(x)
                output y = b(ln(z))
                symmetry s : scale(z)
            }
            """);
        var r = Symc.Run("check", path, "--verify");
        Assert.True(r.ExitCode == 0, r.All);
        var line = Assert.Single(r.Out.Split('\n'), l => l.Contains("scale(z)"));
        Assert.StartsWith("verified", line.Trim());
        Assert.Equal(approximate, line.Contains("approximate: a LayerNorm or BatchNorm eps"));
    }

    [Fact]
    public void Seeds_train_one_run_each_and_compare_reports_cka_per_site()
    {
        string dir = Symc.TempDir();
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", dir, "--seeds", "3,4", "--steps", "40", "--set", "width=24");
        Assert.True(r.ExitCode == 0, r.All);
        foreach (var seed in new[] { 3, 4 })
        {
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"seed-{seed}", "summary.json")));
            Assert.Equal(seed, summary.RootElement.GetProperty("seed").GetInt64());
        }
        Assert.Contains("mean ± sd", r.Out);

        var same = Symc.Run("compare", Path.Combine(dir, "seed-3"), Path.Combine(dir, "seed-3"), "--json");
        Assert.True(same.ExitCode == 0, same.All);
        using (var doc = JsonDocument.Parse(same.Out))
            foreach (var site in doc.RootElement.EnumerateArray())
                Assert.Equal(1.0, site.GetProperty("cka").GetDouble(), 6); // a run against itself

        var cross = Symc.Run("compare", Path.Combine(dir, "seed-3"), Path.Combine(dir, "seed-4"), "--json");
        Assert.True(cross.ExitCode == 0, cross.All);
        using (var doc = JsonDocument.Parse(cross.Out))
        {
            var sites = doc.RootElement.EnumerateArray().ToDictionary(s => s.GetProperty("site").GetString()!, s => s.GetProperty("cka").GetDouble());
            Assert.Contains("h", sites.Keys);
            Assert.All(sites.Values, v => Assert.InRange(v, 0.0, 1.0 + 1e-9));
        }
    }

    [Fact]
    public void Compare_of_a_directory_that_is_not_a_run_is_a_clear_error()
    {
        var r = Symc.Run("compare", Symc.TempDir(), Symc.TempDir());
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("not a symc run directory", r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Diagnostics_declared_in_the_train_block_reach_metrics_jsonl()
    {
        string dir = Symc.TempDir();
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", dir, "--steps", "20", "--set", "width=16");
        Assert.True(r.ExitCode == 0, r.All);
        var withDiagnostics = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("rank(fc1.weight)", out _))
            .Select(e => e.GetProperty("step").GetInt64())
            .ToList();
        Assert.Equal([1L, 10L, 20L], withDiagnostics); // step 1 and every 10 steps
    }
}
