namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/syre-against-collapse: at strong weight decay a ReLU net loses units and representation rank; syre keeps them
/// at similar accuracy. Fast variant: width 32 (the README's run uses 64), 600 steps, seeds 2 and 3.
/// </summary>
public class SyreAgainstCollapseTests
{
    const string File = "syre-against-collapse/syre_collapse.sym";

    [Fact]
    public void Syre_keeps_rank_and_units_that_plain_weight_decay_loses()
    {
        var root = ExampleRun.TempDir("syre");
        string[] common = ["--set", "width=32", "--steps", "600", "--seeds", "2,3"];
        ExampleRun.Train(File, Path.Combine(root, "plain"), [.. common, "--set", "sigma=0"]);
        ExampleRun.Train(File, Path.Combine(root, "syre"), common);
        foreach (var seed in new[] { 2, 3 })
        {
            var plain = Path.Combine(root, "plain", $"seed-{seed}");
            var syre = Path.Combine(root, "syre", $"seed-{seed}");
            double Collapsed(string run) => ExampleRun.Final(run, "collapse(s1)") + ExampleRun.Final(run, "collapse(s2)");

            // Plain weight decay collapses units; syre keeps (almost) all of them.
            Assert.True(Collapsed(plain) >= 3, $"seed {seed}: plain run collapsed only {Collapsed(plain)} units");
            Assert.True(Collapsed(syre) <= 1 && Collapsed(syre) < Collapsed(plain),
                $"seed {seed}: collapsed units syre {Collapsed(syre)} vs plain {Collapsed(plain)}");

            // Representation rank of the first hidden layer: clearly higher with syre (measured ~1.5x).
            double rPlain = ExampleRun.Final(plain, "rank(h1)"), rSyre = ExampleRun.Final(syre, "rank(h1)");
            Assert.True(rSyre > 1.25 * rPlain, $"seed {seed}: rank(h1) syre {rSyre:F2} vs plain {rPlain:F2}");
            Assert.True(ExampleRun.Final(syre, "rank(h2)") > ExampleRun.Final(plain, "rank(h2)"), $"seed {seed}: rank(h2)");

            // At similar accuracy.
            double aPlain = ExampleRun.SummaryNumber(plain, "test_accuracy"), aSyre = ExampleRun.SummaryNumber(syre, "test_accuracy");
            Assert.True(aSyre >= aPlain - 0.03, $"seed {seed}: accuracy syre {aSyre:F3} vs plain {aPlain:F3}");
        }
    }
}
