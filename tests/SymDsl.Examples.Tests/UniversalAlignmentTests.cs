using System.Text.Json;

namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/universal-alignment: two runs from different seeds have a high linear CKA at the last hidden layer, far above
/// two random initialisations (symc compare). Fast variant: width 32 (README: 64), 600 steps (README: 1500), seeds 3, 4, 5
/// (README: 1, 2); pairs (3, 4) and (3, 5).
/// </summary>
public class UniversalAlignmentTests
{
    const string File = "universal-alignment/universal.sym";

    [Fact]
    public void Trained_runs_agree_at_the_last_hidden_layer_far_above_random_initialisations()
    {
        var root = ExampleRun.TempDir("universal");
        ExampleRun.Train(File, root, "--seeds", "3,4,5", "--set", "width=32", "--steps", "600");
        foreach (var other in new[] { 4, 5 })
        {
            var json = ExampleRun.Symc("compare", Path.Combine(root, "seed-3"), Path.Combine(root, $"seed-{other}"), "--json");
            using var doc = JsonDocument.Parse(json);
            var sites = doc.RootElement.EnumerateArray().ToDictionary(
                e => e.GetProperty("site").GetString()!,
                e => (trained: e.GetProperty("cka").GetDouble(), init: e.GetProperty("cka_init").GetDouble()));
            var (trained, init) = sites["h3"];
            var msg = $"seeds 3 vs {other}: CKA(h3) trained {trained:F3}, at init {init:F3}";
            Assert.True(trained > 0.7, msg);          // measured 0.81–0.89
            Assert.True(trained > init + 0.3, msg);   // init measured 0.28–0.41
            // Training raises the agreement at every hidden site.
            foreach (var site in new[] { "h1", "h2", "h3" })
                Assert.True(sites[site].trained > sites[site].init, $"{msg}; {site}: {sites[site]}");
        }
    }
}
