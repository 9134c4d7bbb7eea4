using SymDsl.Torch.Training;
using Xunit.Abstractions;

namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/ode-rnn: one recurrent model read as an ODE, integrated with euler, rk2 or rk4 at step size dt, on the digits
/// rows as an 8-step sequence (digits' x [64] read as [8, 8]). Trained through the library API with the file's own
/// train block, so that a diverging step size is an outcome to record rather than a failed command.
/// </summary>
public class OdeRnnTests(ITestOutputHelper output)
{
    const string File = "ode-rnn/ode_rnn.sym";

    public sealed record Outcome(string Integrator, double Dt, long Seed, double Accuracy, double TrainLoss, double StepMs, bool Diverged);

    internal static Outcome Train(string integrator, double dt, long seed, int hidden, int steps)
    {
        _ = ExampleRun.TempDir("warmup"); // runs ExampleRun's static set-up (one torch thread)
        var overrides = new Dictionary<string, string>
        {
            ["integrator"] = integrator, ["dt"] = dt.ToString(System.Globalization.CultureInfo.InvariantCulture), ["hidden"] = hidden.ToString(),
        };
        var rnn = Compiler.CompileFile(Paths.Example(File), new CompileOptions(overrides));
        Assert.False(rnn.HasErrors, string.Join("\n", rnn.Diagnostics));
        var program = rnn.Program!;
        var train = program.Trains.Single(t => t.Model == "DigitsRnn");
        var dir = ExampleRun.TempDir($"odernn-{integrator}-{dt}");
        try
        {
            Trainer.Run(program, train, new TrainOptions(dir, Steps: steps, Seed: seed));
        }
        catch (SymDsl.Diagnostics.SymDslException e) when (e.Message.Contains("finite", StringComparison.OrdinalIgnoreCase))
        {
            return new Outcome(integrator, dt, seed, 0.1, double.NaN, double.NaN, Diverged: true);
        }
        return new Outcome(integrator, dt, seed,
            ExampleRun.SummaryNumber(dir, "test_accuracy"), ExampleRun.SummaryNumber(dir, "train_loss"),
            ExampleRun.SummaryNumber(dir, "train_step_ms"), Diverged: false);
    }

    /// <summary>
    /// The robust part of the stability/accuracy trade-off. The linear part dh/dt = −h is stable for euler and rk2 only
    /// while dt ≤ 2 (rk4: dt ≲ 2.79). At dt = 0.5 all three integrators reach a good accuracy; at dt = 2.5 euler and rk2
    /// lose accuracy. (rk4 beat both at dt = 2.5 in 4 of 5 seed/size combinations tried, but not in all, so that is not
    /// asserted; see README.md.) Fast variant: hidden 24 (README: 32), 400 steps (README: 600), seeds 2 and 3.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Small_steps_are_accurate_for_every_integrator_large_steps_degrade_euler_and_rk2(long seed)
    {
        string[] integrators = ["euler", "rk2", "rk4"];
        var small = integrators.Select(i => Train(i, 0.5, seed, hidden: 24, steps: 400)).ToList();
        var large = integrators.Take(2).Select(i => Train(i, 2.5, seed, hidden: 24, steps: 400)).ToList();
        foreach (var o in small.Concat(large)) output.WriteLine(o.ToString());
        var msg = string.Join("\n", small.Concat(large));
        foreach (var o in small) Assert.True(!o.Diverged && o.Accuracy > 0.85, msg); // measured 0.90–0.95
        for (int k = 0; k < 2; k++)                                                   // measured drops 0.07–0.25
            Assert.True(large[k].Diverged || large[k].Accuracy < small[k].Accuracy - 0.03, msg);
    }

    /// <summary>Prints the README's table (SYMDSL_EXAMPLES_FULL=1); does nothing otherwise. Not a claim test.</summary>
    [ManualFact("SYMDSL_EXAMPLES_FULL", "1")]
    [Trait("Category", "Manual")]
    public void Sweep_for_the_readme()
    {
        if (Environment.GetEnvironmentVariable("SYMDSL_EXAMPLES_FULL") != "1") return;
        var dts = (Environment.GetEnvironmentVariable("SYMDSL_ODE_DTS") ?? "0.5,1,2.5").Split(',').Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture));
        var seeds = (Environment.GetEnvironmentVariable("SYMDSL_ODE_SEEDS") ?? "1").Split(',').Select(long.Parse);
        foreach (var dt in dts)
            foreach (var integ in new[] { "euler", "rk2", "rk4" })
                foreach (var seed in seeds)
                {
                    var o = Train(integ, dt, seed, hidden: 32, steps: 600);
                    output.WriteLine($"{o.Integrator,-6} dt {o.Dt,4} seed {o.Seed}: accuracy {o.Accuracy:F3} train loss {o.TrainLoss:F4} step {o.StepMs:F1} ms{(o.Diverged ? " DIVERGED" : "")}");
                }
    }
}
