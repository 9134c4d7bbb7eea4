using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Tests.Runtime;

/// <summary>Runs alone: it reads the process's resident memory, which other tests' runs would move.</summary>
[CollectionDefinition(nameof(NativeSectionMemory), DisableParallelization = true)]
public sealed class NativeSectionMemory;

[Collection(nameof(NativeSectionMemory))]
public class NativeSectionMemoryTests
{
    /// <summary>
    /// Renewing the no-GC region gives the memory of the region that ended back. Before the fix, every renewal kept what
    /// had been allocated in the region: allocating 2 GB of short-lived arrays inside sections (about 60 renewals) grew
    /// the resident set by about that much; now it stays within a few hundred MB.
    /// </summary>
    [Fact]
    public void Garbage_allocated_inside_sections_is_given_back_when_the_region_is_renewed()
    {
        const long total = 2L << 30, chunk = 8 << 10;
        Warm();
        var renewals = NativeSection.Renewals;
        var before = Environment.WorkingSet;
        long sink = 0;
        for (long allocated = 0; allocated < total; allocated += chunk * 64)
        {
            using var section = NativeSection.Enter();
            for (var i = 0; i < 64; i++) sink += new byte[chunk].Length; // garbage, as a step's wrappers and scalars are
        }
        var grown = Environment.WorkingSet - before;
        Assert.True(sink >= total);
        Assert.True(NativeSection.Renewals - renewals >= 20, $"only {NativeSection.Renewals - renewals} renewals: the test did not exercise them");
        Assert.True(grown < 600L << 20, $"resident memory grew by {grown >> 20} MB while 2048 MB of garbage came and went inside sections");
    }

    /// <summary>
    /// A section that allocates past the region's budget lets the runtime collect inside it: that is counted, and the
    /// next region is twice as large (up to the maximum), so that a workload allocating that much per section is
    /// protected from then on. (Runs alone: no other section may renew the region meanwhile.)
    /// </summary>
    [Fact]
    public void A_section_that_overflows_the_budget_is_counted_and_doubles_the_next_region()
    {
        Warm();
        var budget = NativeSection.Budget;
        var inside = NativeSection.CollectionsInside;
        long sink = 0;
        using (NativeSection.Enter())
            for (long allocated = 0; allocated < 2 * budget; allocated += 8 << 10) sink += new byte[8 << 10].Length;
        Assert.True(sink >= 2 * budget);
        Assert.Equal(inside + 1, NativeSection.CollectionsInside);
        Assert.Equal(Math.Min(NativeSection.MaxBudget, 2 * budget), NativeSection.Budget);
        // The next sections start a region of the new size, and one that allocates less than half of it needs no collection.
        using (NativeSection.Enter()) _ = new byte[8 << 10];
        var collections = GC.CollectionCount(0);
        using (NativeSection.Enter())
            for (long allocated = 0; allocated < NativeSection.Budget / 4; allocated += 8 << 10) sink += new byte[8 << 10].Length;
        Assert.Equal(collections, GC.CollectionCount(0));
        Assert.Equal(inside + 1, NativeSection.CollectionsInside);
    }

    /// <summary>
    /// Past half the budget, a section opened while another is open (a background evaluation's) joins the region instead
    /// of waiting for it to close; past three quarters it waits, and the region is renewed once the other has closed.
    /// </summary>
    [Fact]
#pragma warning disable xUnit1031 // blocking waits, with time-outs, are what this test observes (sections belong to threads)
    public void A_renewal_waits_for_open_sections_only_once_three_quarters_of_the_budget_are_used()
    {
        Warm();
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        var other = Task.Run(() => { using (NativeSection.Enter()) { holding.Set(); release.Wait(); } });
        Assert.True(holding.Wait(TimeSpan.FromSeconds(30)));
        long sink = 0;
        while (NativeSection.AllocatedInRegion <= NativeSection.Budget / 2 + (1 << 20)) sink += new byte[8 << 10].Length;
        Assert.True(NativeSection.AllocatedInRegion < NativeSection.Budget * 3 / 4, "the test overshot three quarters");
        var renewals = NativeSection.Renewals;
        var joined = Task.Run(() => { using (NativeSection.Enter()) { } });
        Assert.True(joined.Wait(TimeSpan.FromSeconds(30)), "a section past half the budget waited for the open one");
        Assert.Equal(renewals, NativeSection.Renewals);

        while (NativeSection.AllocatedInRegion <= NativeSection.Budget * 3 / 4 + (1 << 20)) sink += new byte[8 << 10].Length;
        var waiting = Task.Run(() => { using (NativeSection.Enter()) { } });
        Assert.False(waiting.Wait(TimeSpan.FromMilliseconds(300)), "a section past three quarters of the budget did not wait for the open one");
        release.Set();
        Assert.True(waiting.Wait(TimeSpan.FromSeconds(30)));
        other.Wait();
        Assert.True(NativeSection.Renewals > renewals);
        Assert.True(sink > 0);
    }
#pragma warning restore xUnit1031

    static void Warm()
    {
        for (var i = 0; i < 4096; i++)
        {
            using var section = NativeSection.Enter();
            _ = new byte[8 << 10];
        }
    }
}
