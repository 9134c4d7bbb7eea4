using System.Runtime.InteropServices;

namespace SymDsl.Torch.Diagnostics;

/// <summary>
/// The calling thread's CPU time (clock_gettime(CLOCK_THREAD_CPUTIME_ID) on Linux and macOS), for cost accounting that
/// other processes' load does not move: with one torch thread an evaluation's tensor work runs on the thread that asks
/// for it. NaN where the clock is unavailable.
/// </summary>
internal static class ThreadCpuClock
{
    [StructLayout(LayoutKind.Sequential)]
    struct Timespec { public long Sec; public long Nsec; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGettime(int clock, out Timespec ts);

    static readonly int? clockId = OperatingSystem.IsLinux() ? 3 : OperatingSystem.IsMacOS() ? 16 : null;
    static bool _broken;

    /// <summary>Seconds of CPU time the calling thread has used (NaN if unavailable).</summary>
    public static double Seconds()
    {
        if (clockId is not int id || _broken) return double.NaN;
        try
        {
            return ClockGettime(id, out var ts) == 0 ? ts.Sec + ts.Nsec * 1e-9 : double.NaN;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _broken = true;
            return double.NaN;
        }
    }
}
