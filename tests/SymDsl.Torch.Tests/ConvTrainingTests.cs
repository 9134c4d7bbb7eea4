using SymDsl.IR;
using SymDsl.Torch.Symmetry;
using SymDsl.Torch.Training;
using static SymDsl.Torch.Tests.TestPrograms;

namespace SymDsl.Torch.Tests;

/// <summary>
/// Conv nets end to end: one trains on the 8×8 digits read as [1, 8, 8], and every symmetry its train block infers (channel
/// permutation and rescale through relu, the residual add and pooling; sign through tanh and flatten; translation into the
/// cross-entropy) verifies numerically, as <c>symc check --verify</c> does.
/// </summary>
[Collection("torch")]
public class ConvTrainingTests
{
    const string Source = """
        model Conv {
            input x: [1, 8, 8]
            layer c1 = Conv2d(1, 6, 3, padding = 1)
            layer c2 = Conv2d(6, 6, 3, padding = 1)
            layer c3 = Conv2d(6, 4, 3, stride = 2, padding = 1)
            layer head = Linear(16, 10)
            h = relu(c1(x))
            r = relu(c2(h)) + h
            p = max_pool(r, 2)
            t = tanh(c3(p))
            output logits = head(flatten(t))
        }
        train Conv {
            data digits(test_fraction = 0.2)
            loss cross_entropy(logits, label)
            optimizer adam(lr = 0.02)
            batch 32
            steps 80
            seed 3
        }
        """;

    [Fact]
    public void A_conv_net_trains_on_digits_read_as_images()
    {
        var c = Compiler.CompileText("conv.sym", Source);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var program = c.Program!;
        var r = Trainer.Run(program, program.Trains[0], new TrainOptions(TempDir("conv-digits")));
        Assert.True(r.TestAccuracy > 0.6, $"accuracy {r.TestAccuracy} after 80 steps (chance 0.1)");
    }

    [Fact]
    public void Every_inferred_symmetry_of_the_conv_net_verifies()
    {
        var c = Compiler.CompileText("conv.sym", Source);
        var program = c.Program!;
        var train = program.Trains[0];
        var kinds = train.Symmetries.Select(s => (s.Kind, s.Target)).ToHashSet();
        Assert.Contains((SymmetryKind.Permutation, "p"), kinds);
        Assert.Contains((SymmetryKind.Rescale, "p"), kinds);
        Assert.Contains((SymmetryKind.Sign, "t"), kinds);
        Assert.Contains((SymmetryKind.Permutation, "t"), kinds);
        Assert.Contains((SymmetryKind.Translation, "logits"), kinds);
        Assert.DoesNotContain(kinds, k => k.Kind == SymmetryKind.Rescale && k.Target == "t"); // tanh
        var results = ModelVerification.VerifyBlock(program, train, train.Symmetries, trials: 2);
        Assert.Equal(train.Symmetries.Count, results.Count);
        Assert.All(results, v => Assert.True(v.Holds, $"{v.Symmetry.Name}: relative error {v.Result.MaxRelativeError:E2}"));
    }
}
