namespace SymDsl.Torch.Tests.Properties;

/// <summary>
/// Failures of the inference that the suite's seeds 1..100 show and that are reported, not yet fixed (keys as
/// <see cref="SymmetryProperties"/> writes them, e.g. "seed 49: loss: none missed translation(z5)"; the Sweep test with
/// SYMDSL_SYMPROP_SEEDS=49 prints the model). The suite fails on any other failure, and on a key here that no longer
/// fails (delete it then). Empty on main at 228541d: the misses seen on 06aaac2 (a shift of one operand of a sum, a
/// shift into a LayerNorm, a sign flip through a product of two flipped factors; 17 keys on these seeds) are fixed.
/// </summary>
public static class KnownFailures
{
    public static readonly IReadOnlySet<string> Keys = new HashSet<string>();
}
