namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/teleport: SGD on the digits MLP with and without `teleport rescale(h) every 100 steps`. Fast variant: the
/// README's file at width 32 (the README's runs use 64), 60 steps (one teleport, before step 1), seed 4 (the README: 1–3).
/// The claims checked: each teleport keeps the batch loss to 1e-6 relative and raises the gradient norm; nothing is
/// skipped; the teleported run differs from the plain one from its first update on, and trains as well (its loss after 60
/// steps no worse than the plain run's by more than 2%).
/// </summary>
public class TeleportExampleTests
{
    const string File = "teleport/teleport.sym";

    [Fact]
    public void Teleport_keeps_the_loss_raises_the_gradient_norm_and_trains_as_well_as_plain_SGD()
    {
        string[] common = ["--seed", "4", "--set", "width=32", "--steps", "60"];
        var teleported = ExampleRun.Train(File, ExampleRun.TempDir("teleported"), ["--train", "teleported", .. common]);
        var plain = ExampleRun.Train(File, ExampleRun.TempDir("plain"), ["--train", "plain", .. common]);

        var before = ExampleRun.Series(teleported, "teleport_grad_norm_before");
        var after = ExampleRun.Series(teleported, "teleport_grad_norm_after");
        var change = ExampleRun.Series(teleported, "teleport_loss_change");
        Assert.Equal([1L], before.Select(p => p.step));
        Assert.True(after[0].value > 1.05 * before[0].value, $"gradient norm {before[0].value} → {after[0].value}");
        Assert.InRange(change[0].value, 0, 1e-6);
        Assert.Equal(1, ExampleRun.SummaryNumber(teleported, "teleports_applied"));
        Assert.Equal(0, ExampleRun.SummaryNumber(teleported, "teleports_skipped"));
        Assert.Empty(ExampleRun.Series(plain, "teleport_grad_norm_before"));

        // Different trajectories from the first update on (plain logs every 2 steps: compare step 2 and the last step).
        var lossT = ExampleRun.Series(teleported, "loss").ToDictionary(p => p.step, p => p.value);
        var lossP = ExampleRun.Series(plain, "loss").ToDictionary(p => p.step, p => p.value);
        Assert.NotEqual(lossP[2], lossT[2]);
        Assert.NotEqual(lossP[60], lossT[60]);
        var trainT = ExampleRun.SummaryNumber(teleported, "train_loss");
        var trainP = ExampleRun.SummaryNumber(plain, "train_loss");
        Assert.True(trainT <= 1.02 * trainP, $"train loss after 60 steps: teleported {trainT}, plain {trainP}");
    }
}
