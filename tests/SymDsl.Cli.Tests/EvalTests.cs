using System.Globalization;
using System.Text.Json;
using SymDsl.Cli;
using SymDsl.Cli.Commands;
using SymDsl.Torch.Diagnostics;
using static TorchSharp.torch;

namespace SymDsl.Cli.Tests;

/// <summary><c>symc eval RUN</c>: reproduces summary.json on the run's own splits, scores other data sources, and its errors.</summary>
public class EvalTests
{
    /// <summary>BatchNorm (running statistics), dropout (off in evaluation), induce (u ⊙ v) and syre (P = θ + θ₀): every
    /// state the evaluation must restore exactly from the checkpoint.</summary>
    const string Net = """
        model Net(width: int = 12) {
            input x: [64]
            layer fc1 = Linear(64, width)
            layer bn = BatchNorm(width, momentum = 0.2)
            layer fc2 = Linear(width, 10)
            h = dropout(relu(bn(fc1(x))), 0.3)
            output logits = fc2(h)
            symmetry perm : permutation(h)
        }
        train Net {
            data      digits(test_fraction = 0.2)
            loss      cross_entropy(logits, label)
            optimizer sgd(lr = 0.05, momentum = 0.9)
            batch     64
            steps     30
            seed      3
            break     syre(sigma = 0.1) on perm
            induce    sparsity on fc2.weight
        }
        """;

    static (string Dir, string Run) Trained(string source = Net, params string[] extra)
    {
        var dir = Symc.TempDir();
        var file = Path.Combine(dir, "net.sym");
        File.WriteAllText(file, source);
        var run = Path.Combine(dir, "run");
        var r = Symc.Run(["train", file, "--out", run, .. extra]);
        Assert.True(r.ExitCode == 0, r.All);
        return (dir, run);
    }

    static JsonElement Summary(string run) => JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json"))).RootElement;

    static JsonElement Split(JsonElement eval, string name) => eval.GetProperty("splits").EnumerateArray().Single(s => s.GetProperty("split").GetString() == name);

    [Fact]
    public void Eval_on_the_runs_own_splits_reproduces_summary_json()
    {
        var (_, run) = Trained();
        var summary = Summary(run);
        var r = Symc.Run("eval", run, "--split", "all");
        Assert.True(r.ExitCode == 0, r.All);
        var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "eval.json"))).RootElement;
        var test = Split(eval, "test");
        var train = Split(eval, "train");
        Assert.Equal(summary.GetProperty("test_loss").GetDouble(), test.GetProperty("loss").GetDouble(), 1e-9);
        Assert.Equal(summary.GetProperty("test_accuracy").GetDouble(), test.GetProperty("accuracy").GetDouble(), 1e-12);
        Assert.Equal(summary.GetProperty("train_loss").GetDouble(), train.GetProperty("loss").GetDouble(), 1e-9);

        // Per-class counts: they add up to the split and give its accuracy; "all" is both splits together.
        foreach (var split in new[] { test, train })
        {
            var classes = split.GetProperty("per_class").EnumerateArray().ToList();
            Assert.Equal(10, classes.Count);
            Assert.Equal(split.GetProperty("examples").GetInt64(), classes.Sum(c => c.GetProperty("count").GetInt64()));
            Assert.Equal(split.GetProperty("accuracy").GetDouble(), classes.Sum(c => c.GetProperty("correct").GetInt64()) / (double)split.GetProperty("examples").GetInt64(), 1e-12);
        }
        var all = Split(eval, "all");
        Assert.Equal(1797, all.GetProperty("examples").GetInt64());
        var n = new[] { train, test }.Select(s => s.GetProperty("examples").GetInt64()).ToArray();
        Assert.Equal((train.GetProperty("loss").GetDouble() * n[0] + test.GetProperty("loss").GetDouble() * n[1]) / (n[0] + n[1]), all.GetProperty("loss").GetDouble(), 1e-12);

        // The table shows the same numbers; the default split is test.
        var table = Symc.Run("eval", run);
        Assert.True(table.ExitCode == 0, table.All);
        Assert.Contains("test\t359\t" + summary.GetProperty("test_loss").GetDouble().ToString("F4", CultureInfo.InvariantCulture), table.Out);
        Assert.DoesNotContain("\ntrain\t", table.Out);
        Symc.AssertNoStackTrace(table);
    }

    [Fact]
    public void Eval_on_another_data_source_written_as_in_a_train_block()
    {
        var (dir, run) = Trained();
        // A csv of digits-like rows: 64 features and a label, of which one in the test split of its own.
        var rows = new List<string> { string.Join(",", Enumerable.Range(0, 64).Select(i => $"p{i}")) + ",digit" };
        for (var r = 0; r < 20; r++)
            rows.Add(string.Join(",", Enumerable.Range(0, 64).Select(i => ((r * 7 + i * 3) % 17).ToString(CultureInfo.InvariantCulture))) + "," + (r % 10));
        var csv = Path.Combine(dir, "other.csv");
        File.WriteAllLines(csv, rows);
        var outFile = Path.Combine(dir, "other-eval.json");
        var e = Symc.Run("eval", run, "--data", $"csv(\"{csv}\", label = \"digit\", test_fraction = 0.5)", "--out", outFile, "--json");
        Assert.True(e.ExitCode == 0, e.All);
        var eval = JsonDocument.Parse(File.ReadAllText(outFile)).RootElement;
        Assert.Equal(JsonDocument.Parse(e.Out).RootElement.ToString(), eval.ToString());
        Assert.Equal("csv", eval.GetProperty("data").GetString());
        var test = Split(eval, "test");
        Assert.Equal(10, test.GetProperty("examples").GetInt64());
        Assert.InRange(test.GetProperty("accuracy").GetDouble(), 0, 1);
        Assert.False(File.Exists(Path.Combine(run, "eval.json"))); // --out: written there only

        // A source without a test split is scored on its training rows by default, with a note; --split test is an error.
        var noTest = Symc.Run("eval", run, "--data", $"csv(\"{csv}\", label = \"digit\", test_fraction = 0)", "--out", outFile);
        Assert.True(noTest.ExitCode == 0, noTest.All);
        Assert.Contains("no test split; scoring the training split", noTest.Err);
        Assert.Contains("train\t20\t", noTest.Out);
        var askedTest = Symc.Run("eval", run, "--data", $"csv(\"{csv}\", label = \"digit\", test_fraction = 0)", "--split", "test");
        Assert.Equal(ExitCodes.InputError, askedTest.ExitCode);
        Assert.Contains("has no test split here; score the training split with --split train", askedTest.Err);

        // Another split of the run's own source: the checker's defaults and the run's seed apply.
        var other = Symc.Run("eval", run, "--data", "digits(test_fraction = 0.5)", "--json");
        Assert.True(other.ExitCode == 0, other.All);
        Assert.Equal(898, Split(JsonDocument.Parse(other.Out).RootElement, "test").GetProperty("examples").GetInt64());
    }

    [Fact]
    public void A_bad_data_source_is_a_located_diagnostic_and_one_that_does_not_fit_is_one_line()
    {
        var (dir, run) = Trained();
        var unknown = Symc.Run("eval", run, "--data", "digitz(test_fraction = 0.5)");
        Assert.Equal(ExitCodes.InputError, unknown.ExitCode);
        Assert.Contains("--data:1:1: error SYM0504: unknown data source 'digitz'; did you mean 'digits'?", unknown.Err);

        var range = Symc.Run("eval", run, "--data", "digits(test_fraction = 2)");
        Assert.Equal(ExitCodes.InputError, range.ExitCode);
        Assert.Contains("--data:1:24: error SYM0517:", range.Err);

        var syntax = Symc.Run("eval", run, "--data", "digits(test_fraction = ");
        Assert.Equal(ExitCodes.InputError, syntax.ExitCode);
        Assert.Contains("--data:1:", syntax.Err);
        Assert.Contains("error SYM0101", syntax.Err);

        // Fields the loss does not find: the checker's error at the run's loss line.
        var teacher = Symc.Run("eval", run, "--data", "teacher(d_in = 64, d_out = 3, hidden = 4, samples = 10)");
        Assert.Equal(ExitCodes.InputError, teacher.ExitCode);
        Assert.Contains("net.sym:", teacher.Err);
        Assert.Contains("'label' is not a field of data source 'teacher'", teacher.Err);

        // Features of the wrong width, from a file relative to the current directory (the path is resolved there).
        var csv = Path.Combine(dir, "narrow.csv");
        File.WriteAllLines(csv, ["a,b,label", "1,2,0", "3,4,1"]);
        var narrow = Symc.Run("eval", run, "--data", $"csv(\"{Path.GetRelativePath(Environment.CurrentDirectory, csv)}\", label = \"label\")");
        Assert.Equal(ExitCodes.InputError, narrow.ExitCode);
        Assert.Contains("data field \"x\" has per-example shape [2] but model input x is declared [64]", narrow.Err);
        Assert.Single(narrow.Err.Trim().Split('\n'));

        foreach (var r in new[] { unknown, range, syntax, teacher, narrow }) Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Eval_scores_a_derived_run_by_its_own_weights()
    {
        // A run derived from a trained one (DerivedRun: what align, merge and canon write) with the output layer zeroed:
        // every logit is 0 (up to rounding through syre's θ₀ and induce's u ⊙ v), so the loss is ln 10.
        var (dir, run) = Trained();
        var (model, train) = RunManifest.Read(run).Rebuild();
        var derived = Path.Combine(dir, "derived");
        using (var scope = NewDisposeScope())
        using (var source = RunComparison.Load(model, run, train))
        {
            var parameters = source.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Key.StartsWith("fc2.") ? zeros_like(kv.Value) : kv.Value.detach());
            DerivedRun.Write(run, derived, parameters, null, new DerivedFrom("test", [run]));
        }
        var r = Symc.Run("eval", derived, "--json");
        Assert.True(r.ExitCode == 0, r.All);
        var test = Split(JsonDocument.Parse(r.Out).RootElement, "test");
        Assert.Equal(Math.Log(10), test.GetProperty("loss").GetDouble(), 1e-6);
        Assert.Equal(359, test.GetProperty("examples").GetInt64());
        Assert.True(File.Exists(Path.Combine(derived, "eval.json")));
    }

    [Fact]
    public void Eval_of_a_directory_that_is_not_a_finished_run_or_a_bad_split_is_an_error()
    {
        var missing = Symc.Run("eval", Path.Combine(Symc.TempDir(), "none"));
        Assert.Equal(ExitCodes.InputError, missing.ExitCode);
        Assert.Contains("does not exist", missing.Err);

        var empty = Symc.TempDir();
        var notRun = Symc.Run("eval", empty);
        Assert.Equal(ExitCodes.InputError, notRun.ExitCode);
        Assert.Contains("is not a symc run directory (no run.json)", notRun.Err);

        var (_, run) = Trained();
        File.Delete(Path.Combine(run, "checkpoint.bin"));
        var noCheckpoint = Symc.Run("eval", run);
        Assert.Equal(ExitCodes.InputError, noCheckpoint.ExitCode);
        Assert.Contains("holds no checkpoint (checkpoint.bin)", noCheckpoint.Err);

        var split = Symc.Run("eval", run, "--split", "validation");
        Assert.Equal(ExitCodes.Usage, split.ExitCode);
        foreach (var r in new[] { missing, notRun, noCheckpoint, split }) Symc.AssertNoStackTrace(r);
    }
}
