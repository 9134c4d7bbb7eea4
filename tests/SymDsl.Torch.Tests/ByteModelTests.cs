using System.Text;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Sampling;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>Byte-level models: training on text with cross_entropy over positions, and generation (<see cref="ByteSampler"/>).</summary>
[Collection("torch")]
public class ByteModelTests
{
    static string Source(string corpus, int steps = 40) => $$"""
        model Tiny {
            input tokens: int [8]
            layer e = Embedding(256, 16)
            layer p = PositionalEmbedding(8, 16)
            layer a = SelfAttention(16, 2, causal = true)
            layer f = Linear(16, 256)
            h = p(e(tokens))
            output logits = f(h + a(h))
        }
        train Tiny {
            data text("{{corpus}}", context = 8, test_fraction = 0.2)
            loss cross_entropy(logits, next)
            optimizer adam(lr = 0.01)
            batch 16
            steps {{steps}}
        }
        """;

    static ProgramIR Compile(string text)
    {
        var c = Compiler.CompileText("tiny.sym", text);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        return c.Program!;
    }

    static string Corpus()
    {
        var path = Path.Combine(TempDir("bytes"), "corpus.txt");
        File.WriteAllText(path, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 60)));
        return path;
    }

    [Fact]
    public void A_text_run_learns_the_next_byte_and_reports_the_bigram_baselines()
    {
        var program = Compile(Source(Corpus(), steps: 60));
        var train = program.Trains[0];
        var dir = TempDir("text-run");
        Trainer.Run(program, train, new TrainOptions(Path.Combine(dir, "warm"), Steps: 2)); // lazily created globals
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var result = Trainer.Run(program, train, new TrainOptions(Path.Combine(dir, "run")));
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        // Far below a uniform guess over 256 bytes (5.55 nats) and below the unigram level of this text; accuracy per byte.
        Assert.True(result.TestLoss < 1.5, $"test loss {result.TestLoss}");
        Assert.InRange(result.TestAccuracy!.Value, 0.5, 1.0);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run", Trainer.SummaryFileName)));
        Assert.True(summary.RootElement.GetProperty("data_bigram_entropy").GetDouble() > 0);
        Assert.True(summary.RootElement.GetProperty("data_bigram_entropy_test_counts").GetDouble() > 0);
    }

    [Fact]
    public void Generation_reads_the_last_position_of_a_right_padded_window_which_a_causal_model_does_not_see()
    {
        var program = Compile(Source("corpus.txt"));
        var ir = program.Models[0];
        using var model = new SymModel(ir, null, seed: 3);
        model.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Positions 0..2 hold "cat"; whatever pads positions 3..7, the logits at position 2 are the same.
        var zeros = tensor(new long[] { 99, 97, 116, 0, 0, 0, 0, 0 }).reshape(1, 8);
        var other = tensor(new long[] { 99, 97, 116, 255, 1, 2, 3, 4 }).reshape(1, 8);
        var a = model.Forward(new Dictionary<string, Tensor> { ["tokens"] = zeros })["logits"][0, 2];
        var b = model.Forward(new Dictionary<string, Tensor> { ["tokens"] = other })["logits"][0, 2];
        Assert.True(a.allclose(b, 1e-6, 1e-6));
    }

    [Fact]
    public void Generation_gives_the_requested_bytes_deterministically_and_releases_its_tensors()
    {
        var program = Compile(Source("corpus.txt"));
        var ir = program.Models[0];
        using var model = new SymModel(ir, null, seed: 5);
        model.eval();
        var prompt = Encoding.ASCII.GetBytes("the mat and the cat");
        ByteSampler.Generate(model, ir, "logits", prompt, 2, 1.0, seed: 1); // warm-up
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var greedy = ByteSampler.Generate(model, ir, "logits", prompt, 20, 0.0, seed: 1);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(20, greedy.Length);
        // Greedy is one path: a shorter run is its prefix; the seed does not matter.
        Assert.Equal(greedy[..12], ByteSampler.Generate(model, ir, "logits", prompt, 12, 0.0, seed: 9));
        var hot = ByteSampler.Generate(model, ir, "logits", prompt, 30, 2.0, seed: 4);
        Assert.Equal(hot, ByteSampler.Generate(model, ir, "logits", prompt, 30, 2.0, seed: 4));
        Assert.NotEqual(hot, ByteSampler.Generate(model, ir, "logits", prompt, 30, 2.0, seed: 5));
    }

    [Fact]
    public void A_model_that_does_not_read_tokens_cannot_generate()
    {
        var e = Assert.Throws<SymDslException>(() => ByteSampler.Check(Mlp(8), "logits"));
        Assert.Contains("input 'x' is float [64], not a sequence of token ids", e.Message);
        var program = Compile(Source("corpus.txt").Replace("output logits = f(h + a(h))", "output logits = f(h + a(h))\n    output pooled = f(mean(h))"));
        e = Assert.Throws<SymDslException>(() => ByteSampler.Check(program.Models[0], "pooled"));
        Assert.Contains("output 'pooled' of model Tiny has shape [256], not next-byte logits [8, 256]", e.Message);
    }
}
