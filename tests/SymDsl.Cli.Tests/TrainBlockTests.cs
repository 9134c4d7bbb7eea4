using System.Text.Json;
using SymDsl.Cli.Sweeps;

namespace SymDsl.Cli.Tests;

/// <summary>
/// `symc train --train NAME` among several train blocks (`train MODEL as NAME`), passed through by `symc sweep`; and a
/// model input bound to a data field of another name (TrainIR.InputBindings) at run time. Few steps, tiny models.
/// </summary>
public class TrainBlockTests
{
    /// <summary>One model, two blocks: cross-entropy on digits and mse on teacher data.</summary>
    const string TwoBlocks = """
        model M {
            input x: [64]
            layer f = Linear(64, 10)
            output logits = f(x)
        }

        train M as xent {
            data digits()
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.05)
            steps 3
        }

        train M as mse {
            data teacher(d_in = 64, d_out = 10, samples = 64)
            loss mse(logits, target)
            optimizer sgd(lr = 0.05)
            steps 3
        }
        """;

    static JsonElement Json(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Several_blocks_without_train_is_bad_usage_listing_the_names()
    {
        var file = Symc.WriteTemp("two.sym", TwoBlocks);
        var dir = Path.Combine(Symc.TempDir(), "run");
        var r = Symc.Run("train", file, "--out", dir);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.EndsWith("\nsymc: error: two.sym has 2 train blocks; choose one with --train NAME (xent, mse)", r.Err.TrimEnd());
        Assert.False(Directory.Exists(dir), "nothing is written");
    }

    [Fact]
    public void An_unknown_train_name_is_bad_usage_listing_the_names()
    {
        var file = Symc.WriteTemp("two.sym", TwoBlocks);
        var r = Symc.Run("train", file, "--train", "M", "--out", Path.Combine(Symc.TempDir(), "run"));
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("no train block called 'M'; its train blocks are: xent, mse", r.Err);
        Symc.AssertNoStackTrace(r);
    }

    [Fact]
    public void Train_runs_the_named_block()
    {
        var file = Symc.WriteTemp("two.sym", TwoBlocks);
        var dir = Symc.TempDir();
        var r = Symc.Run("train", file, "--train", "mse", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("training M (mse) from", r.Err);
        var summary = Json(Path.Combine(dir, "summary.json"));
        Assert.False(summary.TryGetProperty("test_accuracy", out var acc) && acc.ValueKind == JsonValueKind.Number, "mse has no accuracy");
        Assert.Equal("mse", Json(Path.Combine(dir, "run.json")).GetProperty("train").GetString());

        var xent = Symc.TempDir();
        r = Symc.Run("train", file, "--train", "xent", "--out", xent);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(JsonValueKind.Number, Json(Path.Combine(xent, "summary.json")).GetProperty("test_accuracy").ValueKind);
    }

    [Fact]
    public void Sweep_checks_the_train_name_before_any_cell_and_passes_it_to_every_cell()
    {
        var file = Symc.WriteTemp("two.sym", TwoBlocks);
        var none = Symc.TempDir();
        var r = Symc.Run("sweep", file, "--seeds", "1,2", "--out", none);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("choose one with --train NAME (xent, mse)", r.Err);
        Assert.False(File.Exists(Path.Combine(none, SweepSpec.FileName)), "no sweep was started");

        var dir = Symc.TempDir();
        r = Symc.Run("sweep", file, "--seeds", "1,2", "--train", "mse", "--slurm", "--dry-run", "--out", dir);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("--train mse", File.ReadAllText(Path.Combine(dir, "sweep.sbatch")));
        Assert.Equal("mse", SweepSpec.Read(dir).Train);
    }

    [Fact]
    public void Check_verify_train_verifies_that_block_alone_and_train_without_verify_is_bad_usage()
    {
        var file = Symc.WriteTemp("two.sym", TwoBlocks);
        var all = Symc.Run("check", file, "--verify", "--trials", "1");
        Assert.True(all.ExitCode == 0, all.All);
        Assert.Contains("verifying M, train block 'xent' at line 7", all.Out);
        Assert.Contains("verifying M, train block 'mse' at line 14", all.Out);

        var one = Symc.Run("check", file, "--verify", "--trials", "1", "--train", "mse");
        Assert.True(one.ExitCode == 0, one.All);
        Assert.Contains("verifying M, train block 'mse' at line 14", one.Out);
        Assert.DoesNotContain("'xent'", one.Out);
        // cross-entropy adds translation(logits); mse does not.
        Assert.Contains("translation(logits)", all.Out);
        Assert.DoesNotContain("translation(logits)", one.Out);

        var unknown = Symc.Run("check", file, "--verify", "--train", "nope");
        Assert.Equal(ExitCodes.Usage, unknown.ExitCode);
        Assert.Contains("no train block called 'nope'; its train blocks are: xent, mse", unknown.Err);

        var noVerify = Symc.Run("check", file, "--train", "mse");
        Assert.Equal(ExitCodes.Usage, noVerify.ExitCode);
        Assert.Contains("--train needs --verify", noVerify.Err);
    }

    static string Digits(string input) => $$"""
        model D {
            input {{input}}: [8, 8]
            layer f = Linear(64, 10)
            output logits = f(flatten({{input}}))
        }
        train D {
            data digits()
            loss cross_entropy(logits, label)
            optimizer sgd(lr = 0.1)
            steps 4
            seed 3
        }
        """;

    [Fact]
    public void A_single_input_of_any_name_trains_on_the_data_features_exactly_as_one_named_like_them()
    {
        var dirX = Symc.TempDir();
        var rx = Symc.Run("train", Symc.WriteTemp("x.sym", Digits("x")), "--out", dirX);
        Assert.True(rx.ExitCode == 0, rx.All);
        var dirImg = Symc.TempDir();
        var img = Symc.WriteTemp("img.sym", Digits("img"));
        var ri = Symc.Run("train", img, "--out", dirImg);
        Assert.True(ri.ExitCode == 0, ri.All);
        foreach (var key in new[] { "train_loss", "test_loss", "test_accuracy" })
            Assert.Equal(Json(Path.Combine(dirX, "summary.json")).GetProperty(key).GetDouble(), Json(Path.Combine(dirImg, "summary.json")).GetProperty(key).GetDouble());

        // symc compare feeds the same binding (probe inputs from the bound field).
        var other = Symc.TempDir();
        Assert.Equal(0, Symc.Run("train", img, "--out", other, "--seed", "4").ExitCode);
        var c = Symc.Run("compare", dirImg, other, "--probe", "16", "--json");
        Assert.True(c.ExitCode == 0, c.All);
        Assert.Contains("\"site\": \"logits\"", c.Out);
    }

    [Fact]
    public void A_csv_model_binds_its_one_input_to_the_feature_columns()
    {
        var file = Symc.WriteTemp("csvmodel.sym", """
            model C {
                input features: [3]
                layer fc = Linear(3, 2)
                output logits = fc(features)
            }
            train C {
                data csv(path = "d.csv", label = "class", test_fraction = 0.25)
                loss cross_entropy(logits, label)
                optimizer sgd(lr = 0.1)
                batch 4
                steps 2
            }
            """);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(file)!, "d.csv"), "a,b,c,class\n1,2,3,0\n2,3,4,1\n0,1,0,0\n5,4,3,1\n1,1,1,0\n2,2,2,1\n3,3,3,0\n4,4,4,1\n");
        var r = Symc.Run("train", file, "--out", Symc.TempDir());
        Assert.True(r.ExitCode == 0, r.All);
    }
}
