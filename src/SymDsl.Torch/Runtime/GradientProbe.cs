using System.Runtime.InteropServices;
using TorchSharp;

namespace SymDsl.Torch.Runtime;

/// <summary>
/// Whether a tensor has a gradient, without making a managed <see cref="torch.Tensor"/> of it. TorchSharp's <c>.grad</c>
/// allocates a finalizable wrapper (and registers it with the dispose scope) only to be disposed at once: about 5 µs, which
/// the syre step paid for every corrected tensor on every step (bench/README.md). Here: LibTorchSharp's own
/// <c>THSTensor_grad</c> (a new handle, or null when the gradient is undefined) and <c>THSTensor_dispose</c> for that handle,
/// the two calls TorchSharp's getter and Dispose make. Falls back to <c>.grad</c> where the entry points are not found.
/// </summary>
public static class GradientProbe
{
    static bool _native = true;

    /// <summary>False once the native entry points were not found (then every call takes TorchSharp's .grad).</summary>
    internal static bool Native => _native;

    /// <summary>True when <paramref name="t"/>.grad is defined.</summary>
    public static bool HasGradient(torch.Tensor t)
    {
        if (_native)
        {
            try
            {
                var g = THSTensor_grad(t.Handle);
                if (g == IntPtr.Zero)
                {
                    torch.CheckForErrors(); // a failure inside the call also returns null: TorchSharp's getter throws it
                    return false;
                }
                THSTensor_dispose(g);
                return true;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { _native = false; }
        }
        using var grad = t.grad;
        return grad is not null;
    }

    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_grad(IntPtr tensor);

    [DllImport("LibTorchSharp")]
    static extern void THSTensor_dispose(IntPtr tensor);
}
