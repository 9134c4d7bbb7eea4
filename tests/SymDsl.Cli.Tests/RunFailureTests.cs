namespace SymDsl.Cli.Tests;

/// <summary>
/// How a training run ends when something goes wrong: a full disk or an unwritable file at any point of the run, a
/// diverged run, a bad option value, a bad label in a data file. Always one line, the right exit code, no stack trace,
/// and a run directory that is never half-consistent (summary.json, written last, only for a finished run).
/// </summary>
public class RunFailureTests
{
    static string[] Train(string dir, params string[] more) =>
        ["train", Paths.Example("mlp.sym"), "--out", dir, "--steps", "3", "--set", "width=8", .. more];

    /// <summary>The one error line of a failed command (besides the check's warnings and the "training …" line).</summary>
    static string ErrorLine(Symc.Result r)
    {
        Symc.AssertNoStackTrace(r);
        Assert.DoesNotContain("internal error", r.All);
        var errors = r.Err.Split('\n').Where(l => l.StartsWith("symc: error: ", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
        return errors[0];
    }

    static void Full(string path) // writes to path fail with ENOSPC, as on a full disk
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, "/dev/full");
    }

    [Theory]
    [InlineData("run.json")]
    [InlineData("build")]
    [InlineData("metrics.jsonl")]
    [InlineData("tensorboard")]
    [InlineData("checkpoint.bin")]
    [InlineData("weights.dat")]
    [InlineData("plots/loss.png")]
    [InlineData("report.html")]
    [InlineData("summary.json")]
    public void A_full_disk_or_unwritable_file_is_one_line_naming_the_file(string target)
    {
        Assert.True(File.Exists("/dev/full"), "this test needs /dev/full (Linux)");
        var dir = Symc.TempDir();
        var pid = Environment.ProcessId; // in-process: the temporary files of atomic writes carry this process's id
        switch (target)
        {
            case "run.json": Full(Path.Combine(dir, $".run.json.{pid}.tmp")); break;
            case "build": File.WriteAllText(Path.Combine(dir, "build"), "a file where a directory must go"); break;
            case "metrics.jsonl": Full(Path.Combine(dir, $".metrics.jsonl.{pid}.tmp")); break;
            case "tensorboard": File.WriteAllText(Path.Combine(dir, "tensorboard"), "a file where a directory must go"); break;
            case "checkpoint.bin": Directory.CreateDirectory(Path.Combine(dir, "checkpoint.bin")); break; // the rename onto it fails
            case "weights.dat": Full(Path.Combine(dir, $".weights.dat.{pid}.tmp")); break;
            case "plots/loss.png": Full(Path.Combine(dir, "plots", $".loss.png.{pid}.tmp")); break;
            case "report.html": Full(Path.Combine(dir, $".report.html.{pid}.tmp")); break;
            case "summary.json": Full(Path.Combine(dir, $".summary.json.{pid}.tmp")); break;
        }
        var r = Symc.Run(Train(dir));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.All);
        var line = ErrorLine(r);
        Assert.StartsWith("symc: error: cannot write ", line);
        Assert.Contains(Path.GetFileName(target), line);
        Assert.False(File.Exists(Path.Combine(dir, "summary.json")), "summary.json marks a finished run");
    }

    [Fact]
    public void Weights_are_written_before_the_summary()
    {
        var dir = Symc.TempDir();
        var r = Symc.Run(Train(dir));
        Assert.True(r.ExitCode == 0, r.All);
        var weights = File.GetLastWriteTimeUtc(Path.Combine(dir, "weights.dat"));
        var report = File.GetLastWriteTimeUtc(Path.Combine(dir, "report.html"));
        var summary = File.GetLastWriteTimeUtc(Path.Combine(dir, "summary.json"));
        Assert.True(weights <= report && report <= summary, $"weights {weights:O}, report {report:O}, summary {summary:O}");
        Assert.Empty(Directory.GetFiles(dir, ".*.tmp"));
    }

    [Fact]
    public void A_diverged_run_is_one_line_exit_1_and_keeps_the_last_good_checkpoint()
    {
        var source = Symc.WriteTemp("huge.sym", File.ReadAllText(Paths.Example("mlp.sym")).Replace("lr = 0.05", "lr = 1e30"));
        var dir = Symc.TempDir();
        var r = Symc.Run("train", source, "--out", dir, "--steps", "40", "--checkpoint-every", "1", "--set", "width=8");
        Assert.True(r.ExitCode == ExitCodes.InputError, r.All);
        var line = ErrorLine(r);
        Assert.Matches(@"^symc: error: the (loss|gradient of \S+|parameter \S+|optimizer state .+) became (NaN|inf|-inf|infinite) at step \d+; training stopped, the last good checkpoint \(step \d+\) is kept in \S+checkpoint\.bin$", line);
        Assert.DoesNotContain("torch", line);
        Assert.True(File.Exists(Path.Combine(dir, "checkpoint.bin")));
        Assert.False(File.Exists(Path.Combine(dir, "summary.json")));
        Assert.False(File.Exists(Path.Combine(dir, "weights.dat")));
    }

    [Theory]
    [InlineData("--steps", "abc", "--steps expects a whole number, got 'abc'")]
    [InlineData("--steps", "0", "--steps must be at least 1, got 0")]
    [InlineData("--epochs", "-1", "--epochs must be at least 1, got -1")]
    [InlineData("--epochs", "1.5", "--epochs expects a whole number")]
    [InlineData("--checkpoint-every", "0", "--checkpoint-every must be at least 1")]
    [InlineData("--threads", "0", "--threads must be between 1 and 1024")]
    [InlineData("--seed", "-3", "--seed must be at least 0")]
    [InlineData("--seed", "x", "--seed expects a whole number")]
    [InlineData("--max-param-bytes", "0", "--max-param-bytes must be at least 1")]
    [InlineData("--seeds", "1,x", "--seeds expects a list")]
    public void A_bad_numeric_option_of_train_is_bad_usage(string option, string value, string message)
    {
        var dir = Symc.TempDir();
        var r = Symc.Run("train", Paths.Example("mlp.sym"), "--out", dir, option, value);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains(message, r.Err);
        Assert.DoesNotContain("System.", r.Err);
        Symc.AssertNoStackTrace(r);
        Assert.Empty(Directory.GetFileSystemEntries(dir)); // refused before anything is written
    }

    [Theory]
    [InlineData("check", "--trials", "0", "--trials must be between 1 and 1000")]
    [InlineData("check", "--trials", "many", "--trials expects a whole number")]
    [InlineData("check", "--max-param-bytes", "-5", "--max-param-bytes must be at least 1")]
    [InlineData("build", "--max-param-bytes", "1e9", "--max-param-bytes expects a whole number")]
    public void A_bad_numeric_option_of_check_and_build_is_bad_usage(string command, string option, string value, string message)
    {
        var r = Symc.Run(command, Paths.Example("mlp.sym"), option, value);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains(message, r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void A_bad_probe_count_of_compare_is_bad_usage()
    {
        var r = Symc.Run("compare", Symc.TempDir(), Symc.TempDir(), "--probe", "0");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--probe must be at least 1, got 0", r.Err);
    }

    static string CsvModel(string csv) => Symc.WriteTemp("csvmodel.sym", $$"""
        model M {
            input x: [2]
            layer fc = Linear(2, 3)
            output logits = fc(x)
        }
        train M {
            data csv(path = "{{csv}}", label = "class", test_fraction = 0.0)
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.1)
            batch 4
            epochs 1
        }
        """);

    [Theory]
    [InlineData("a,b,class\n1,2,0\n3,4,NaN\n5,6,2\n", "data.csv:3: label \"NaN\"")]
    [InlineData("a,b,class\n1,2,0\n3,4,1\n5,6,-1\n", "data.csv:4: label \"-1\"")]
    [InlineData("a,b,class\n1,2,0\n3,4,1\n5,6,2\n7,8,3\n9,10,3\n", "data.csv:5: label 3 in the training data is outside the 3 classes of output logits")]
    public void A_bad_label_in_a_data_file_names_its_file_and_line(string text, string expected)
    {
        var csv = Symc.WriteTemp("data.csv", text);
        var r = Symc.Run("train", CsvModel(csv), "--out", Symc.TempDir());
        Assert.True(r.ExitCode == ExitCodes.InputError, r.All);
        Assert.Contains(expected, ErrorLine(r));
    }
}
