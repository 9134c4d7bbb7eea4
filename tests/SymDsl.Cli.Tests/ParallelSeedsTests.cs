using SymDsl.Cli;

namespace SymDsl.Cli.Tests;

/// <summary>
/// <c>symc train FILE --seeds … --parallel N</c>: concurrent seeds in one process, each exactly as alone.
/// Shares the "libtorch thread count" collection with the tests that run `symc train --threads 1` in this process
/// (torch.set_num_threads is process-wide): run concurrently, a thread-count change mid-run changes float summation order.
/// </summary>
[Collection("libtorch thread count")]
public class ParallelSeedsTests
{
    static readonly string[] Common = ["--steps", "30", "--set", "width=16", "--checkpoint-every", "10"];

    [Fact]
    public void Parallel_seeds_give_exactly_the_results_of_sequential_seeds_and_the_table()
    {
        string seq = Symc.TempDir(), par = Symc.TempDir();
        var a = Symc.Run(["train", Paths.Example("mlp.sym"), "--out", seq, "--seeds", "1,2,3", .. Common]);
        Assert.Equal(0, a.ExitCode);
        var b = Symc.Run(["train", Paths.Example("mlp.sym"), "--out", par, "--seeds", "1,2,3", "--parallel", "3", .. Common]);
        Assert.True(b.ExitCode == 0, b.All);
        foreach (var seed in new[] { 1, 2, 3 })
        {
            string Read(string dir, string file) => File.ReadAllText(Path.Combine(dir, $"seed-{seed}", file));
            Assert.Equal(Read(seq, "metrics.jsonl"), Read(par, "metrics.jsonl"));
            Assert.Equal(File.ReadAllBytes(Path.Combine(seq, $"seed-{seed}", "weights.dat")), File.ReadAllBytes(Path.Combine(par, $"seed-{seed}", "weights.dat")));
            Assert.Contains($"[seed {seed}] step 30/30", b.Err);
        }
        Assert.NotEqual(File.ReadAllText(Path.Combine(par, "seed-1", "metrics.jsonl")), File.ReadAllText(Path.Combine(par, "seed-2", "metrics.jsonl")));
        // The same seed table (mean ± sd) as the sequential run, row for row.
        string Table(Symc.Result r) => string.Join("\n", r.Out.Split('\n').SkipWhile(l => !l.StartsWith("seed\t", StringComparison.Ordinal)));
        Assert.Contains("mean ± sd", Table(b));
        Assert.Equal(Table(a), Table(b));
    }

    [Theory]
    [InlineData("--parallel", "2")]
    [InlineData("--seeds", "1,2", "--parallel", "0")]
    [InlineData("--seeds", "1,2", "--parallel", "-1")]
    public void Parallel_without_seeds_or_below_one_is_a_usage_error(params string[] args)
    {
        var r = Symc.Run(["train", Paths.Example("mlp.sym"), "--out", Symc.TempDir(), "--steps", "2", .. args]);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--parallel", r.Err);
        Symc.AssertNoStackTrace(r);
    }
}
