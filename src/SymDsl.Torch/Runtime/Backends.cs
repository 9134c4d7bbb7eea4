using System.Runtime.InteropServices;

namespace SymDsl.Torch.Runtime;

/// <summary>
/// libtorch backend switches that TorchSharp 0.107 does not expose, set once before the first convolution
/// (<see cref="ForConvolutions"/>; the same switches as PyTorch's torch.backends.nnpack/mkldnn.set_flags):
/// <list type="bullet">
/// <item>oneDNN (mkldnn) off: its float32 convolution backward returns NaN gradients on this project's machines (libtorch
///   2.10, AMD EPYC with AVX-512; e.g. Conv2d(6, 6, 3, padding = 1) on a batch of 32, in about half of the steps, whatever
///   the data). libtorch then uses its own im2col + BLAS convolution, which is exact.</item>
/// <item>NNPACK off: libtorch asks whether NNPACK is available on every CPU convolution and, on a processor NNPACK does not
///   recognise, prints "Could not initialize NNPACK!" to stderr each time — a raw libtorch message in every conv model's
///   output. NNPACK only ever replaces the algorithm of a float32 batch of 16 or more.</item>
/// </list>
/// Neither changes what a convolution computes, and neither is read by anything but convolutions.
/// </summary>
static class Backends
{
    static readonly Lazy<bool> convolutions = new(() =>
    {
        try
        {
            var context = GlobalContext();
            SetUserEnabledMkldnn(context, false);
            SetUserEnabledNnpack(context, false);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    });

    /// <summary>Sets the switches once per process (later calls do nothing); false when libtorch's switches were not found.</summary>
    public static bool ForConvolutions() => convolutions.Value;

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
