using System.Text.Json;

namespace SymDsl.Cli.Tests;

public class TrainTests
{
    [Fact]
    public void Train_writes_metrics_and_summary()
    {
        string dir = Symc.TempDir();
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", dir, "--steps", "60", "--set", "width=32");
        Assert.True(r.ExitCode == 0, r.All);

        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"));
        Assert.NotEmpty(lines);
        using var first = JsonDocument.Parse(lines[0]);
        foreach (var key in new[] { "step", "epoch", "loss" }) Assert.True(first.RootElement.TryGetProperty(key, out _), key);

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
        var root = summary.RootElement;
        double acc = root.GetProperty("test_accuracy").GetDouble();
        Assert.InRange(acc, 0.5, 1.0); // 60 steps of a small MLP on digits is well past chance (0.1)
        Assert.True(root.GetProperty("train_loss").GetDouble() < Math.Log(10));
        Assert.True(root.TryGetProperty("test_loss", out _));
    }

    [Fact]
    public void A_missing_data_file_is_a_clear_error()
    {
        string path = Symc.WriteTemp("csvmodel.sym", """
            model M {
                input x: [3]
                layer fc = Linear(3, 2)
                output logits = fc(x)
            }
            train M {
                data csv(path = "missing.csv", label = "class")
                loss cross_entropy(logits, label)
                optimizer sgd(lr = 0.1)
                batch 4
                epochs 1
            }
            """);
        var r = Symc.Run("train", path, "--out", Symc.TempDir());
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("missing.csv", r.Err);
        Symc.AssertNoStackTrace(r);
    }
}
