namespace SymDsl.Torch.Data;

/// <summary>
/// The bigram baselines of a byte corpus, in nats per byte (the unit of <c>cross_entropy</c>), over the byte pairs
/// (current, next) that the test windows score.
/// </summary>
public static class TextStatistics
{
    /// <summary>The add-α smoothing of <see cref="BigramTrainCountsKey"/>: every pair counts α more than it was seen.</summary>
    public const double Smoothing = 0.5;

    /// <summary>H(next | current) on the test pairs with p(next | current) from the training part's pair counts,
    /// add-<see cref="Smoothing"/> smoothed (a bigram model fitted on the training part, scored on the test part).</summary>
    public const string BigramTrainCountsKey = "bigram_entropy";

    /// <summary>H(next | current) of the test pairs under their own counts: the lowest cross-entropy any bigram model
    /// reaches on the test part (one fitted to it).</summary>
    public const string BigramTestCountsKey = "bigram_entropy_test_counts";

    /// <summary>The two baselines (none when <paramref name="test"/> has no pair).</summary>
    public static Dictionary<string, double> Bigram(ReadOnlySpan<byte> train, ReadOnlySpan<byte> test)
    {
        var result = new Dictionary<string, double>();
        if (test.Length < 2) return result;
        var trainCounts = PairCounts(train);
        var testCounts = PairCounts(test);
        var trainRows = RowSums(trainCounts);
        var testRows = RowSums(testCounts);
        double fitted = 0, own = 0;
        long pairs = test.Length - 1;
        for (var a = 0; a < 256; a++)
            for (var b = 0; b < 256; b++)
            {
                var n = testCounts[a * 256 + b];
                if (n == 0) continue;
                fitted -= n * Math.Log((trainCounts[a * 256 + b] + Smoothing) / (trainRows[a] + 256 * Smoothing));
                own -= n * Math.Log((double)n / testRows[a]);
            }
        result[BigramTrainCountsKey] = fitted / pairs;
        result[BigramTestCountsKey] = own / pairs;
        return result;
    }

    static long[] PairCounts(ReadOnlySpan<byte> bytes)
    {
        var counts = new long[256 * 256];
        for (var i = 0; i + 1 < bytes.Length; i++) counts[bytes[i] * 256 + bytes[i + 1]]++;
        return counts;
    }

    static long[] RowSums(long[] counts)
    {
        var rows = new long[256];
        for (var a = 0; a < 256; a++)
            for (var b = 0; b < 256; b++) rows[a] += counts[a * 256 + b];
        return rows;
    }
}
