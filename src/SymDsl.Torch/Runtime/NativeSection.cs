using System.Runtime;

namespace SymDsl.Torch.Runtime;

/// <summary>
/// Keeps the .NET garbage collector from running while TorchSharp code is inside libtorch calls (a training step), so
/// that no native object a call is still reading can be finalized, i.e. freed, under it.
/// <para>
/// The defect this prevents (TorchSharp 0.107): a <c>TorchSharp.Scalar</c> made by an implicit conversion
/// (<c>t.mul_(0.9)</c>, <c>x * 0.1</c>, and throughout TorchSharp's own optimizers: <c>exp_avg.mul_(beta1)</c>,
/// <c>addcdiv_(…, -lr)</c>) is referenced only by the stack of the method that passes its <c>Handle</c> to a P/Invoke.
/// The JIT reports it dead once the handle is read, so a garbage collection started by ANY thread while libtorch is
/// still running that call can collect it, and the finalizer thread then deletes the native <c>c10::Scalar</c>
/// concurrently with libtorch reading it ("Unknown scalar type", "Expected false to be true … toFloat", an
/// ExternalException, or silently wrong numbers). Scalars have a finalizer but no DisposeScope registration in 0.107,
/// and TorchSharp has no setting for this; tensors made inside a dispose scope are safe (the scope references them).
/// </para>
/// <para>
/// How: a process-wide no-GC region (<see cref="GC.TryStartNoGCRegion(long)"/>) is held while any section is open.
/// Sections of several threads (concurrent runs) overlap freely; the region is (re)started only when no section is
/// open: when it has lapsed, or when more than half of its allocation budget has been used (at once if no other section
/// is open; while others are, new sections join the region until three quarters are used), new sections wait until the
/// open ones close, then the region is renewed (that is where the collections happen: between steps; a full
/// compacting collection, then the new region). Nested
/// sections on one thread are free. If a section allocates more than the whole budget the runtime collects anyway;
/// <see cref="CollectionsInside"/> counts such cases (none in the soak runs, see bench/soak), and the budget doubles for
/// the next region (up to <see cref="MaxBudget"/>), so a workload that allocates more per section gets a larger region.
/// </para>
/// <para>
/// The budget starts small (16 MB) because a renewal's cost grows with it: each collection gives the ended region's memory
/// back and the next region's allocations fault it in again, page by page. symc train on examples/mlp.sym (about 14 KB of
/// managed allocation per step), 20,000 steps: 64 MB, 9 renewals costing 0.56 s in all and 106,000 page faults, 11.6–12.1 s;
/// 16 MB, 34 renewals costing 0.27 s and 36,000 page faults, 8.9–9.0 s (8 MB and 4 MB: no faster, more renewals). In
/// bench/run's trainer loop (one torch thread) the width-128 step went from 0.345 to 0.244 ms.
/// </para>
/// </summary>
public static class NativeSection
{
    /// <summary>Managed bytes the process may allocate between two renewals of the region (doubled after an overflow).</summary>
    public static long Budget { get; private set; } = 16L << 20;

    /// <summary>The largest <see cref="Budget"/> overflows grow it to.</summary>
    public const long MaxBudget = 256L << 20;

    static readonly object Gate = new();
    static int _open;
    static bool _renewing;
    static long _allocatedAtStart;
    static bool _unavailable;
    static int _collectionsAtEnter;
    [ThreadStatic] static int _depth;

    /// <summary>How many times the no-GC region was (re)started.</summary>
    public static long Renewals { get; private set; }
    /// <summary>Seconds spent renewing the region (the collections and the region starts).</summary>
    public static double RenewalSeconds { get; private set; }
    /// <summary>Collections that happened while a section was open (the budget overflowed); 0 when the protection held.</summary>
    public static long CollectionsInside { get; private set; }

    /// <summary>Opens a section on this thread; dispose it (with <c>using</c>) when the native work is done.</summary>
    public static Scope Enter()
    {
        if (_depth++ > 0) return new Scope(true);
        lock (Gate)
        {
            while (_renewing) Monitor.Wait(Gate);
            // With other sections open (a background evaluation's, which may last milliseconds) a renewal would wait for
            // them: the region's second half is the reserve for exactly that, so it waits only once three quarters are used.
            if (NeedsRenewal() && (_open == 0 || NeedsRenewal(reserve: 4)))
            {
                _renewing = true;
                try
                {
                    while (_open > 0) Monitor.Wait(Gate);
                    Renew();
                }
                finally
                {
                    _renewing = false;
                    Monitor.PulseAll(Gate);
                }
            }
            if (_open++ == 0) _collectionsAtEnter = GC.CollectionCount(0);
        }
        return new Scope(true);
    }

    /// <summary>
    /// Opens a section on this thread that never waits for another thread: for a background worker that a thread holding
    /// a section may wait for (e.g. diagnostics computed while training goes on, awaited inside a step). It renews the
    /// region only when no section is open; otherwise it joins the current region (or, after a lapse, none, exactly as
    /// the sections already open are then unprotected), and a pending renewal waits for it to close.
    /// </summary>
    public static Scope EnterWithoutWaiting()
    {
        if (_depth++ > 0) return new Scope(true);
        lock (Gate)
        {
            if (_open == 0 && !_renewing && NeedsRenewal()) Renew();
            if (_open++ == 0) _collectionsAtEnter = GC.CollectionCount(0);
        }
        return new Scope(true);
    }

    /// <summary>Managed bytes the process allocated since the region started.</summary>
    internal static long AllocatedInRegion => GC.GetTotalAllocatedBytes(false) - _allocatedAtStart;

    /// <summary>Whether the region has lapsed or more than all but 1/<paramref name="reserve"/> of its budget is used.</summary>
    static bool NeedsRenewal(int reserve = 2) => !_unavailable && (
        GCSettings.LatencyMode != GCLatencyMode.NoGCRegion || AllocatedInRegion > Budget - Budget / reserve);

    static void Renew()
    {
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            try { GC.EndNoGCRegion(); }
            catch (InvalidOperationException) { /* the region had already ended */ }
        }
        // A full compacting collection first. TryStartNoGCRegion's own collection does not give the memory of the region
        // that just ended back: without this, the process's resident memory grew by about what it allocated (symc train
        // on examples/mlp.sym: +40 MB/s, 12 GB in one bench run), while the GC's committed size stayed put.
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        try
        {
            if (GC.TryStartNoGCRegion(Budget)) Renewals++;
            RenewalSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        catch (InvalidOperationException) { /* another component holds a region: nothing more to do */ }
        catch (ArgumentOutOfRangeException)
        {
            // This GC configuration cannot reserve the budget (e.g. a small ephemeral segment): no region, and no retry
            // per section (each try is a blocking collection). CollectionsInside then shows what the protection missed.
            _unavailable = true;
        }
        _allocatedAtStart = GC.GetTotalAllocatedBytes(false);
    }

    static void Exit()
    {
        if (--_depth > 0) return;
        lock (Gate)
        {
            if (--_open == 0)
            {
                if (GC.CollectionCount(0) != _collectionsAtEnter)
                {
                    CollectionsInside++;
                    Budget = Math.Min(MaxBudget, 2 * Budget); // from the next renewal on
                }
                Monitor.PulseAll(Gate);
            }
        }
    }

    /// <summary>An open section; <see cref="Dispose"/> closes it (once; later calls do nothing).</summary>
    public sealed class Scope : IDisposable
    {
        bool _open;
        internal Scope(bool open) => _open = open;
        public void Dispose()
        {
            if (!_open) return;
            _open = false;
            Exit();
        }
    }
}
