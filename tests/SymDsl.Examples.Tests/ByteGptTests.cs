namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/byte-gpt: the two-block byte-level transformer's test loss falls below the text's bigram conditional entropy
/// H(next | current) (bigram counts from the training part, scored on the test part; the run reports it as
/// data_bigram_entropy). Fast variant: the README's model at context 16, d 32, hidden 64, 300 steps, on the first
/// 20,000 bytes of the shipped text (the README: context 64, d 64, hidden 256, 1000 steps, the whole file); seeds 4 and 5
/// (the README's are 1–3).
/// </summary>
public class ByteGptTests
{
    /// <summary>byte_gpt.sym reading the first 20,000 bytes of the shipped text (written beside it in a temp directory).</summary>
    static string SmallCopy()
    {
        var dir = ExampleRun.TempDir("byte-gpt");
        var text = File.ReadAllBytes(Paths.Example("byte-gpt/kjv-genesis-exodus.txt"));
        File.WriteAllBytes(Path.Combine(dir, "kjv-genesis-exodus.txt"), text[..20_000]);
        var source = Path.Combine(dir, "byte_gpt.sym");
        File.WriteAllText(source, File.ReadAllText(Paths.Example("byte-gpt/byte_gpt.sym")));
        return source;
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void The_test_loss_falls_below_the_bigram_conditional_entropy(int seed)
    {
        var source = SmallCopy();
        var run = Path.Combine(Path.GetDirectoryName(source)!, "run");
        ExampleRun.Symc("train", source, "--out", run, "--seed", seed.ToString(), "--steps", "300",
            "--set", "context=16", "--set", "d=32", "--set", "hidden=64");
        var bigram = ExampleRun.SummaryNumber(run, "data_bigram_entropy");
        var testLoss = ExampleRun.SummaryNumber(run, "test_loss");
        Assert.InRange(bigram, 2.0, 3.0); // English bytes: about 2.4 nats on this small excerpt
        Assert.True(testLoss < bigram - 0.05, $"test loss {testLoss} is not below the bigram entropy {bigram}");

        // Generation from the trained run: the prompt, then the requested bytes (greedy: the same each time).
        var sample = ExampleRun.Symc("sample", run, "--prompt", "And God said", "--length", "40", "--temperature", "0");
        Assert.StartsWith("And God said", sample);
        Assert.Equal(sample, ExampleRun.Symc("sample", run, "--prompt", "And God said", "--length", "40", "--temperature", "0"));
    }
}
