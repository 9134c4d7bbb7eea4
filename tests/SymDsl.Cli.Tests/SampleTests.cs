namespace SymDsl.Cli.Tests;

/// <summary><c>symc sample RUN --prompt</c> on a small byte-level text run, and its errors.</summary>
public class SampleTests
{
    const string TinyGpt = """
        model Tiny {
            input tokens: int [8]
            layer e = Embedding(256, 8)
            layer p = PositionalEmbedding(8, 8)
            layer a = SelfAttention(8, 2, causal = true)
            layer f = Linear(8, 256)
            h = p(e(tokens))
            output logits = f(h + a(h))
        }
        train Tiny {
            data text("corpus.txt", context = 8, test_fraction = 0.2)
            loss cross_entropy(logits, next)
            optimizer adam(lr = 0.01)
            batch 16
            steps 30
        }
        """;

    /// <summary>A trained run of the tiny model on a repetitive text (its own directory).</summary>
    static string TrainedRun()
    {
        var dir = Symc.TempDir();
        File.WriteAllText(Path.Combine(dir, "corpus.txt"), string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 60)));
        var source = Path.Combine(dir, "tiny.sym");
        File.WriteAllText(source, TinyGpt);
        var run = Path.Combine(dir, "run");
        var r = Symc.Run("train", source, "--out", run);
        Assert.True(r.ExitCode == 0, r.All);
        return run;
    }

    [Fact]
    public void Sample_continues_the_prompt_greedily_or_with_a_seeded_temperature()
    {
        var run = TrainedRun();
        var greedy = Symc.Run("sample", run, "--prompt", "the ", "--length", "40", "--temperature", "0");
        Assert.True(greedy.ExitCode == 0, greedy.All);
        var text = greedy.Out.TrimEnd('\n');
        Assert.StartsWith("the ", text);
        Assert.Equal(greedy.Out, Symc.Run("sample", run, "--prompt", "the ", "--length", "40", "--temperature", "0", "--seed", "7").Out); // greedy ignores the seed

        var a = Symc.Run("sample", run, "--prompt", "the ", "--length", "60", "--temperature", "1.5", "--seed", "1");
        var again = Symc.Run("sample", run, "--prompt", "the ", "--length", "60", "--temperature", "1.5", "--seed", "1");
        var other = Symc.Run("sample", run, "--prompt", "the ", "--length", "60", "--temperature", "1.5", "--seed", "2");
        Assert.True(a.ExitCode == 0, a.All);
        Assert.Equal(a.Out, again.Out);
        Assert.NotEqual(a.Out, other.Out);
    }

    [Fact]
    public void Sample_of_a_model_that_does_not_read_tokens_is_a_clear_error()
    {
        var run = Symc.TempDir();
        var trained = Symc.Run("train", Paths.Example("mlp.sym"), "--out", run, "--steps", "2", "--set", "width=8");
        Assert.True(trained.ExitCode == 0, trained.All);
        var r = Symc.Run("sample", run, "--prompt", "x");
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("is float [64], not a sequence of token ids; symc sample needs a model with one input of token ids", r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Sample_of_a_missing_run_or_with_a_bad_option_is_an_error()
    {
        var missing = Path.Combine(Symc.TempDir(), "nothing");
        var r = Symc.Run("sample", missing);
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("does not exist", r.Err);
        var bad = Symc.Run("sample", missing, "--temperature", "-1");
        Assert.Equal(ExitCodes.Usage, bad.ExitCode);
        Assert.Contains("--temperature must be a finite number at least 0", bad.Err);
        Assert.Equal(ExitCodes.Usage, Symc.Run("sample", missing, "--length", "0").ExitCode);
    }
}
