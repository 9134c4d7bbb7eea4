namespace SymDsl.Cli.Tests;

/// <summary>
/// An image source read in the input's shape: digits' <c>x: [64]</c> feeds <c>input x: [1, 8, 8]</c> (one channel of 8×8
/// pixels, as idx and fashion_mnist feed <c>[1, 28, 28]</c>) through check, check --verify, training with diagnostics,
/// compare and build.
/// </summary>
public class ImageShapeTests
{
    const string Model = """
        model Img {
            input x: [1, 8, 8]
            layer fc = Linear(8, 16)
            layer out = Linear(16, 10)
            h = relu(fc(x))
            p = mean(mean(h))
            output logits = out(p)
            symmetry perm : permutation(h)
        }
        train Img {
            data digits()
            loss cross_entropy(logits, label)
            optimizer adam(lr = 0.01)
            batch 32
            steps 30
            diagnose rank(h), duplicates(perm) every 10 steps
        }
        """;

    [Fact]
    public void Digits_read_as_one_channel_of_8_by_8_pixels_check_train_diagnose_and_compare()
    {
        var source = Symc.WriteTemp("img.sym", Model);
        var check = Symc.Run("check", source, "--verify");
        Assert.True(check.ExitCode == 0, check.All);
        Assert.Contains("verified  perm : permutation(h)", check.Out);

        var dir = Symc.TempDir();
        foreach (var seed in new[] { "1", "2" })
        {
            var r = Symc.Run("train", source, "--out", Path.Combine(dir, seed), "--seed", seed);
            Assert.True(r.ExitCode == 0, r.All);
        }
        var metrics = File.ReadAllText(Path.Combine(dir, "1", "metrics.jsonl"));
        Assert.Contains("\"rank(h)\"", metrics);
        Assert.Contains("\"duplicates(perm)\"", metrics);
        using (var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "1", "summary.json"))))
            Assert.True(summary.RootElement.GetProperty("test_loss").GetDouble() < Math.Log(10)); // below a uniform guess over the 10 classes

        var compare = Symc.Run("compare", Path.Combine(dir, "1"), Path.Combine(dir, "2"), "--probe", "64");
        Assert.True(compare.ExitCode == 0, compare.All);
        Assert.Contains("h ", compare.Out);
    }

    [Fact]
    public void An_image_input_with_another_number_of_pixels_is_an_error_at_the_input()
    {
        var source = Symc.WriteTemp("img.sym", Model.Replace("input x: [1, 8, 8]", "input x: [1, 7, 8]"));
        var r = Symc.Run("check", source);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("img.sym:2:5: error SYM0508: input 'x' has shape [1, 7, 8] (56 entries), but digits's field 'x' has shape [64] (64 entries)", r.Err);
    }
}
