using SymDsl.IR;
using SymDsl.Symmetries;
using SymDsl.Tests;
using SymDsl.Torch.Symmetry;

namespace SymDsl.Torch.Tests.Symmetry;

/// <summary>
/// The calculus's verdicts on the models of <see cref="CalculusModels"/>, checked in float64: every symmetry it proves
/// leaves the outputs unchanged (1e-8 relative when exact, 1e-3 when a LayerNorm's eps makes it approximate), and every
/// group it says does not hold changes them (a counterexample for the necessary rule it named).
/// </summary>
public class CalculusVerificationTests
{
    public static TheoryData<string> Models() => new(CalculusModels.All.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Models))]
    public void Proven_symmetries_verify_and_refuted_ones_have_counterexamples(string name)
    {
        var c = Compiler.CompileText("t.sym", CalculusModels.All.Single(m => m.Name == name).Text);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var model = c.Program!.Models[0];
        Assert.NotEmpty(model.Symmetries);

        foreach (var v in ModelVerification.Verify(model, model.Symmetries.Where(s => s.Exact), trials: 2))
            Assert.True(v.Holds, $"{v.Symmetry.Name}: relative error {v.Result.MaxRelativeError:E2}");
        foreach (var v in ModelVerification.Verify(model, model.Symmetries.Where(s => !s.Exact), trials: 2, tolerance: 1e-3))
            Assert.True(v.Holds, $"{v.Symmetry.Name} (approximate): relative error {v.Result.MaxRelativeError:E2}");

        var refuted = new SymmetryInference(model, LossBinding.None).Candidates()
            .Where(x => x.Verdict == Verdict.DoesNotHold && x.Actions.Count > 0).ToList();
        Assert.NotEmpty(refuted);
        foreach (var x in refuted)
        {
            var ir = x.ToIR(target: x.Target ?? "unnamed");
            var v = Assert.Single(ModelVerification.Verify(model, [ir], trials: 2, tolerance: 1e-6));
            Assert.False(v.Holds, $"{ir.Name} was refuted by {x.Main}, but the outputs did not change");
        }
    }
}
