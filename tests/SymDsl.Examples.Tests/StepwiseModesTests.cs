namespace SymDsl.Examples.Tests;

/// <summary>
/// Issue 17: the staircase detected mode by mode on a setting the README did not use — stepwise3.sym (a three-layer deep
/// linear net) with the spectrum 1, 0.6, 0.36, 0.216 (ratio 0.6; the README uses 0.5 and 0.7), width 12 (README: 16),
/// seeds 7 and 8. The rank(y) events must be one per target mode (count = target rank 4) and strongest first.
/// </summary>
public class StepwiseModesTests
{
    [Theory]
    [InlineData(7)]
    [InlineData(8)]
    public void Three_layer_net_learns_a_ratio_0_6_spectrum_mode_by_mode_strongest_first(int seed)
    {
        var dir = ExampleRun.TempDir("stepwise-modes");
        var source = File.ReadAllText(Paths.Example("stepwise-deep-linear/stepwise3.sym"));
        Assert.Contains("ratio = 0.5", source);
        Assert.Contains("steps     600", source);
        var file = Path.Combine(dir, "variant.sym");
        File.WriteAllText(file, source.Replace("ratio = 0.5", "ratio = 0.6").Replace("steps     600", "steps     400"));
        var run = Path.Combine(dir, "run");
        ExampleRun.Symc("train", file, "--out", run, "--seed", seed.ToString(), "--set", "width=12");

        var events = ExampleRun.Events(run).Where(e => e.kind == "rank(y)").ToList();
        Assert.True(events.Select(e => e.value).SequenceEqual([1.0, 2.0, 3.0, 4.0]),
            "mode events not 1, 2, 3, 4 in step order: " + string.Join(", ", events));
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.step < p.Second.step), "two modes at the same step: " + string.Join(", ", events));
        Assert.Equal(4.0, ExampleRun.Final(run, "rank(y).numerical"));
    }

    /// <summary>
    /// Equal gaps through lowrank_regression's <c>spectrum</c> argument, on spectra, widths and seeds the README's grid does
    /// not use (README: 2, 1.5, 1, 0.5 at depth 2 and 1, 0.75, 0.5, 0.25 at depth 3, width 16, seeds 1–3): count = target
    /// rank, strongest first, and the final numerical rank equals the target rank.
    /// </summary>
    [Theory]
    [InlineData("stepwise.sym", "top = 2.0, ratio = 0.7", "steps     300", "[1.6, 1.2, 0.8, 0.4]", 20, 600, 9)]
    [InlineData("stepwise3.sym", "top = 1.0, ratio = 0.5", "steps     600", "[1.2, 0.9, 0.6, 0.3]", 12, 400, 9)]
    [InlineData("stepwise3.sym", "top = 1.0, ratio = 0.5", "steps     600", "[1.2, 0.9, 0.6, 0.3]", 12, 400, 10)]
    public void Equal_gap_spectrum_is_learned_mode_by_mode_strongest_first(string example, string geometric, string steps, string spectrum, int width, int trainSteps, int seed)
    {
        var dir = ExampleRun.TempDir("stepwise-gaps");
        var source = File.ReadAllText(Paths.Example("stepwise-deep-linear/" + example));
        Assert.Contains(geometric, source);
        Assert.Contains(steps, source);
        var file = Path.Combine(dir, "variant.sym");
        File.WriteAllText(file, source.Replace(geometric, $"spectrum = {spectrum}").Replace(steps, $"steps     {trainSteps}"));
        var run = Path.Combine(dir, "run");
        ExampleRun.Symc("train", file, "--out", run, "--seed", seed.ToString(), "--set", $"width={width}");

        var events = ExampleRun.Events(run).Where(e => e.kind == "rank(y)").ToList();
        Assert.True(events.Select(e => e.value).SequenceEqual([1.0, 2.0, 3.0, 4.0]),
            "mode events not 1, 2, 3, 4 in step order: " + string.Join(", ", events));
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.step < p.Second.step), "two modes at the same step: " + string.Join(", ", events));
        Assert.Equal(4.0, ExampleRun.Final(run, "rank(y).numerical"));
    }
}
