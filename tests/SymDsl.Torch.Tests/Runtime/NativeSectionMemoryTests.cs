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

    static void Warm()
    {
        for (var i = 0; i < 4096; i++)
        {
            using var section = NativeSection.Enter();
            _ = new byte[8 << 10];
        }
    }
}
