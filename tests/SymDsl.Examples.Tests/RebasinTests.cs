using System.Text.Json;

namespace SymDsl.Examples.Tests;

/// <summary>
/// examples/rebasin: two MLPs trained from different seeds, aligned by weight matching over the permutation symmetries
/// the compiler inferred, have a much lower loss barrier on the linear path between them than before alignment; the
/// aligned run computes B's function. Fast variant: width 64 (README: 512), 300 steps (README: 30 epochs = 690 steps),
/// seeds 7, 8, 9 (README: 1–6), pairs (7, 8) and (7, 9). Also a conv net with BatchNorm and a transformer-ish model with
/// attention heads (examples/rebasin/conv.sym, attention.sym, smaller and shorter) align with nothing declared.
/// </summary>
public class RebasinTests
{
    static JsonElement Align(string a, string b, string outDir, params string[] extra)
    {
        ExampleRun.Symc(["align", a, b, "--out", outDir, "--probe", "128", .. extra]);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "align.json")));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Alignment_lowers_the_barrier_between_two_mlps_well_below_the_unaligned_one()
    {
        var root = ExampleRun.TempDir("rebasin");
        ExampleRun.Train("rebasin/rebasin.sym", root, "--seeds", "7,8,9", "--set", "width=64", "--steps", "300");
        foreach (var other in new[] { 8, 9 })
        {
            var r = Align(Path.Combine(root, "seed-7"), Path.Combine(root, $"seed-{other}"), Path.Combine(root, $"aligned-{other}"));
            double before = r.GetProperty("barrier_before").GetDouble(), after = r.GetProperty("barrier_after").GetDouble();
            var msg = $"seeds 7 vs {other}: barrier before {before:F4}, after {after:F4}";
            Assert.True(before > 0.05, msg);
            Assert.True(after < 0.5 * before, msg);
            Assert.True(r.GetProperty("function_check").GetProperty("max_relative_output_difference").GetDouble() <= 1e-6, msg);
            Assert.Equal(3, r.GetProperty("permutation_spaces").GetArrayLength()); // h1, h2, h3: inferred, none declared
        }
    }

    [Theory]
    [InlineData("rebasin/conv.sym", "c=8", "bn1.running_mean", true)]
    [InlineData("rebasin/attention.sym", "d=8", "attn.heads", false)]
    public void A_conv_net_and_an_attention_model_align_with_no_hand_written_spec(string file, string set, string expected, bool lowers)
    {
        var root = ExampleRun.TempDir("rebasin-arch");
        ExampleRun.Train(file, root, "--seeds", "3,4", "--set", set, "--steps", "120");
        var r = Align(Path.Combine(root, "seed-3"), Path.Combine(root, "seed-4"), Path.Combine(root, "aligned"));
        var spaces = r.GetProperty("permutation_spaces").EnumerateArray().ToList();
        Assert.Contains(spaces, s => s.GetProperty("target").GetString() == expected
            || s.GetProperty("buffers").EnumerateArray().Any(b => b.GetString() == expected));
        Assert.True(r.GetProperty("function_check").GetProperty("max_relative_output_difference").GetDouble() <= 1e-6);
        double before = r.GetProperty("barrier_before").GetDouble(), after = r.GetProperty("barrier_after").GetDouble();
        // The conv net's barrier drops (measured 1.62 → 0.95). The attention model's does not: matching permutes whole
        // heads and then rotates the query–key and value–output spaces inside each head (orthogonal Procrustes), but the
        // barrier stays (measured 1.05 → 1.26 with permutations only, 1.05 → 1.24 with the rotations); see
        // examples/rebasin/README.md.
        if (!lowers) Assert.Contains(r.GetProperty("rotation_spaces").EnumerateArray(), s => s.GetProperty("target").GetString() == "attn.qk");
        if (lowers) Assert.True(after <= before, $"{file}: barrier before {before:F4}, after {after:F4}");
        Assert.True(double.IsFinite(after), $"{file}: barrier after {after}");
    }
}
