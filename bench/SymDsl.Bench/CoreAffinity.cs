using System.Runtime.InteropServices;

namespace SymDsl.Bench;

/// <summary>
/// Pins the calling thread to one core (Linux sched_setaffinity on the thread; elsewhere nothing). The trainer-level
/// ratios pin both interleaved loops to the same core: only one of them runs at any time, so neither loses anything, and
/// the two sides of every ratio then run on the same core. Unpinned, the scheduler tends to keep each loop's thread on
/// the core it last ran on, and on a virtual machine two vCPUs need not be equally fast for the length of a run (a
/// neighbour on the host's sibling hyper-thread), which shows up as a ratio that is stable within a run and differs
/// between runs. The other cores stay free for background work (the diagnostics worker) and the runtime's threads.
/// </summary>
public static class CoreAffinity
{
    [DllImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    static extern int SchedSetAffinity(int pid, IntPtr size, ref ulong mask);

    /// <summary>Pins the calling thread to <paramref name="core"/> (0-based); false where that is not possible.</summary>
    public static bool PinCurrentThread(int core)
    {
        if (!OperatingSystem.IsLinux() || core < 0 || core >= Math.Min(64, Environment.ProcessorCount)) return false;
        ulong mask = 1UL << core;
        try
        {
            return SchedSetAffinity(0, (IntPtr)sizeof(ulong), ref mask) == 0; // pid 0: the calling thread
        }
        catch (EntryPointNotFoundException) { return false; }
        catch (DllNotFoundException) { return false; }
    }
}
