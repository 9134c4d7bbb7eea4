namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/crh-resnet: the CRH alignment at every layer of the ResNet example (stem, the four block convolutions, the
/// downsampling convolution, the head), each beside its random baseline. Fast variant: c = 4 (README: 8), 60 steps
/// (README: 400), seed 4 (README: 1–3), 2 % of the 70,000 pooled images held out. Needs Fashion-MNIST (`.ci/data`).
/// </summary>
public class CrhResNetTests
{
    const string File = "crh-resnet/crh_resnet.sym";

    /// <summary>The layer each diagnosed site measures (the README's table).</summary>
    static readonly string[] Sites = ["z", "s1", "block1.h", "h1", "s2", "block2.h", "pooled"];
    static readonly string[] Relations = ["rga_a", "gwa_a", "rwa_a", "rga_b", "gwa_b", "rwa_b"];

    [Fact]
    public void Every_layer_has_its_six_alignments_and_a_random_baseline_over_training()
    {
        var dir = ExampleRun.TempDir("crh-resnet");
        string source = System.IO.File.ReadAllText(Paths.Example(File));
        string edited = source.Replace("data      fashion_mnist()", "data      fashion_mnist(test_fraction = 0.02)").Replace("every 50 steps", "every 30 steps");
        Assert.Contains("fashion_mnist(test_fraction = 0.02)", edited);
        Assert.Contains("every 30 steps", edited);
        string copy = Path.Combine(dir, "crh_resnet.sym");
        System.IO.File.WriteAllText(copy, edited);
        string run = Path.Combine(dir, "run");
        ExampleRun.Symc("train", copy, "--out", run, "--set", "c=4", "--steps", "60", "--seed", "4");

        var rows = ExampleRun.Metrics(run).Where(r => r.ContainsKey("alignment(pooled)")).ToList();
        Assert.Equal(new double[] { 1, 30, 60 }, rows.Select(r => r["step"]));
        foreach (var site in Sites)
        {
            var key = $"alignment({site})";
            foreach (var r in rows)
            {
                foreach (var rel in Relations)
                {
                    Assert.InRange(r[$"{key}.{rel}"], -1.0, 1.0);
                    Assert.InRange(r[$"{key}.baseline_{rel}"], -1.0, 1.0);
                }
                Assert.Equal(Relations.Average(rel => r[$"{key}.{rel}"]), r[key], 9);
                Assert.Equal(rows[0][$"{key}.baseline"], r[$"{key}.baseline"]); // the baseline depends on the layer's sizes only
            }
        }
        // The baseline follows the Wishart formula of the layer's sizes: at the stem (256 × 784 patch rows, 9 inputs → 4
        // channels) RGA_a ≈ 1 (n ≫ 9) and GWA_a ≈ 1/√(1 + 9/4) (Z_a = WᵀW has 4 degrees of freedom); at the head (256 rows,
        // 8 → 10) RGA_a ≈ 1/√((1 + 8/255)(1 + 8/256)).
        var first = rows[0];
        Assert.InRange(first["alignment(z).baseline_rga_a"], 0.99, 1.0);
        Assert.InRange(first["alignment(z).baseline_gwa_a"], 1 / Math.Sqrt(1 + 9.0 / 4) - 0.05, 1 / Math.Sqrt(1 + 9.0 / 4) + 0.05);
        double head = 1 / Math.Sqrt((1 + 8.0 / 255) * (1 + 8.0 / 256));
        Assert.InRange(first["alignment(pooled).baseline_rga_a"], head - 0.03, head + 0.03);
    }
}
