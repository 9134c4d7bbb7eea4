using TorchSharp;

namespace SymDsl.Torch.Runtime;

/// <summary>
/// Explicit <see cref="Scalar"/> constants for the library's tensor calls. An implicit conversion (<c>t.fill_(1.0)</c>)
/// makes a Scalar that only the callee's stack references, which the GC may finalize (free) while libtorch reads it
/// (see <see cref="NativeSection"/>). These live as long as the process; a value computed at run time is made with
/// <c>using var s = value.ToScalar();</c>, which keeps it alive until the end of its scope. SourceGuardTests fails on
/// any implicit conversion to Scalar in src/SymDsl.Torch.
/// </summary>
public static class Scalars
{
    /// <summary>The integer 0.</summary>
    public static readonly Scalar IntZero = 0.ToScalar();
    /// <summary>The integer 1.</summary>
    public static readonly Scalar IntOne = 1.ToScalar();
    /// <summary>The integer 2.</summary>
    public static readonly Scalar IntTwo = 2.ToScalar();
    /// <summary>The double 1.0.</summary>
    public static readonly Scalar One = 1.0.ToScalar();
    /// <summary>The double 0.5.</summary>
    public static readonly Scalar Half = 0.5.ToScalar();
    /// <summary>The double −∞.</summary>
    public static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();
    /// <summary>The float −∞.</summary>
    public static readonly Scalar NegativeInfinityF = float.NegativeInfinity.ToScalar();
}
