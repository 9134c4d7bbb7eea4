namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/conservation: the rescale and rotation conserved quantities stay put under small-step full-batch GD without
/// weight decay, and move under weight decay and under minibatch noise. Fast variant: width 24 (README: 32), 200 steps
/// (README: 400), seeds 2 and 3.
/// </summary>
public class ConservationTests
{
    const string File = "conservation/conservation.sym";

    static double RelDrift(string run, string key)
    {
        var s = ExampleRun.Series(run, key);
        return Math.Abs(s[^1].value - s[0].value) / Math.Abs(s[0].value);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Conserved_under_full_batch_gd_moved_by_weight_decay_and_minibatch_noise(int seed)
    {
        var root = ExampleRun.TempDir("conservation");
        string[] common = ["--seed", seed.ToString(), "--set", "width=24", "--steps", "200"];
        var gd = ExampleRun.Train(File, Path.Combine(root, "gd"), common);
        var wd = ExampleRun.Train(File, Path.Combine(root, "wd"), [.. common, "--set", "wd=0.01"]);
        var sgd = ExampleRun.Train(File, Path.Combine(root, "sgd"), [.. common, "--set", "batch_size=16", "--set", "lr=0.2"]);

        foreach (var key in new[] { "balance(s)", "balance(r)" })
        {
            double dGd = RelDrift(gd, key), dWd = RelDrift(wd, key), dSgd = RelDrift(sgd, key);
            var msg = $"{key} relative drift: gd {dGd:P2}, weight decay {dWd:P2}, minibatch {dSgd:P2}";
            Assert.True(dGd < 0.02, msg);                 // measured ~0.1–0.2 %
            Assert.True(dWd > 0.08 && dWd > 5 * dGd, msg); // measured ~15–35 %
            Assert.True(dSgd > 0.08 && dSgd > 5 * dGd, msg);
        }
        // Weight decay shrinks the conserved quantities (it pulls every unit toward balance, Q → 0).
        Assert.True(ExampleRun.Final(wd, "balance(s)") < ExampleRun.First(wd, "balance(s)"));
        Assert.True(ExampleRun.Final(wd, "balance(r)") < ExampleRun.First(wd, "balance(r)"));
        // All three runs move the gradient ratio toward balance (|mean ln r| falls); minibatch noise is not faster here.
        foreach (var run in new[] { gd, wd, sgd })
            Assert.True(Math.Abs(ExampleRun.Final(run, "balance(s).log_ratio")) < Math.Abs(ExampleRun.First(run, "balance(s).log_ratio")));
    }
}
