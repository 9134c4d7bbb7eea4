using SymDsl.Cli;

namespace SymDsl.Cli.Tests;

/// <summary>
/// The short version of bench/soak.sh: symc as a child process with a tiny first GC generation (collections and
/// finalizers all the time) and a checkpoint every 20 steps. Before NativeSection, this setting freed TorchSharp
/// Scalars under running libtorch calls: the unfixed build died at steps 3,572, 4,788 and 5,933 (seeds 4, 4, 1);
/// "Unknown scalar type", "Expected false to be true … toFloat".
/// </summary>
public class GcPressureTests
{
    [Fact]
    public void Training_under_gc_pressure_with_frequent_checkpoints_ends_cleanly()
    {
        var dir = Symc.TempDir();
        var r = SymcProcess.Run(
            ["train", Paths.Example("mlp.sym"), "--out", dir, "--steps", "6000", "--checkpoint-every", "20", "--seed", "4", "--threads", "1"],
            new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x40000", ["SYMC_GC_STATS"] = "1" },
            TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.All);
        Assert.Contains("\"steps\": 6000", File.ReadAllText(Path.Combine(dir, "summary.json")));
        // The protection held: no collection happened while a step was inside libtorch.
        Assert.Contains(", 0 collections inside a section", r.Err);
    }
}
