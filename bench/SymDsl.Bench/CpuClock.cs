using System.Runtime.InteropServices;

namespace SymDsl.Bench;

/// <summary>
/// The process's CPU time (every thread: the loop, libtorch's, background work, the GC), in seconds, to the nanosecond
/// (clock_gettime(CLOCK_PROCESS_CPUTIME_ID); .NET's Process.TotalProcessorTime has only clock-tick resolution here).
/// A window's CPU seconds do not grow when other processes take the cores, so its ratio is a load-robust cross-check
/// of the wall-clock ratio; NaN where the clock is unavailable (not Linux).
/// </summary>
public static class CpuClock
{
    [StructLayout(LayoutKind.Sequential)]
    struct Timespec { public long Seconds; public long Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out Timespec time);

    const int ProcessCpuTime = 2; // CLOCK_PROCESS_CPUTIME_ID

    static readonly bool Available = OperatingSystem.IsLinux();

    public static double Seconds()
    {
        if (!Available || ClockGetTime(ProcessCpuTime, out var t) != 0) return double.NaN;
        return t.Seconds + t.Nanoseconds * 1e-9;
    }
}
