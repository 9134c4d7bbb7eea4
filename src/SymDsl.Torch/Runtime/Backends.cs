using System.Runtime.InteropServices;

namespace SymDsl.Torch.Runtime;

/// <summary>
/// libtorch backend switches TorchSharp 0.107 does not expose. NNPACK: libtorch asks whether NNPACK is available on every CPU
/// convolution and, on a processor NNPACK does not support (this project's machines), prints "Could not initialize NNPACK!"
/// to stderr each time — a raw libtorch message in every conv model's output. <see cref="DisableNnpack"/> turns NNPACK off
/// before the first convolution (at::globalContext().setUserEnabledNNPACK(false), as PyTorch's
/// torch.backends.nnpack.set_flags(False)), which libtorch checks first. It never changes a result: NNPACK only replaces a
/// convolution algorithm, and only for float32 batches of 16 or more.
/// </summary>
static class Backends
{
    static readonly Lazy<bool> nnpackOff = new(() =>
    {
        try
        {
            SetUserEnabledNnpack(GlobalContext(), false);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    });

    /// <summary>Turns NNPACK off once per process (later calls do nothing); false when libtorch's switch was not found.</summary>
    public static bool DisableNnpack() => nnpackOff.Value;

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
