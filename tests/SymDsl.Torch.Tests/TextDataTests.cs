using System.Text;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>The byte-level <c>text(path, context)</c> source: windows, the shift by one byte, the split by position, errors.</summary>
[Collection("torch")]
public class TextDataTests
{
    static string WriteText(string text) => WriteBytes(Encoding.ASCII.GetBytes(text));

    static string WriteBytes(byte[] bytes)
    {
        var path = Path.Combine(TempDir("text"), "corpus.txt");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static DataSet Load(string path, int context, double testFraction, int? stride = null)
    {
        var args = new List<(string, Value)> { ("path", S(path)), ("context", I(context)), ("test_fraction", D(testFraction)) };
        if (stride is { } s) args.Add(("stride", I(s)));
        return DataSources.Load(new DataIR("text", Args([.. args]), Span), 1);
    }

    static string Row(Tensor t, int i) => Encoding.ASCII.GetString(t[i].data<long>().Select(b => (byte)b).ToArray());

    [Fact]
    public void Windows_hold_the_bytes_and_next_is_tokens_shifted_by_one()
    {
        // 26 bytes; test_fraction 0.25 → the last round(6.5) = 6 bytes ("uvwxyz") are the test part, 20 for training.
        using var d = Load(WriteText("abcdefghijklmnopqrstuvwxyz"), context: 4, testFraction: 0.25);
        Assert.Equal(256, d.Classes);
        Assert.Equal(ScalarType.Int64, d.Train["tokens"].dtype);
        // Training windows every 4 bytes in "abcdefghijklmnopqrst": starts 0, 4, 8, 12 (15 + 1 bytes are needed for start 15).
        Assert.Equal(new long[] { 4, 4 }, d.Train["tokens"].shape);
        Assert.Equal(["abcd", "efgh", "ijkl", "mnop"], Enumerable.Range(0, 4).Select(i => Row(d.Train["tokens"], i)));
        Assert.Equal(["bcde", "fghi", "jklm", "nopq"], Enumerable.Range(0, 4).Select(i => Row(d.Train["next"], i)));
        // The test part "uvwxyz" holds one window (5 bytes): no window crosses the split, none reads a training byte.
        Assert.Equal(new long[] { 1, 4 }, d.Test["tokens"].shape);
        Assert.Equal("uvwx", Row(d.Test["tokens"], 0));
        Assert.Equal("vwxy", Row(d.Test["next"], 0));
    }

    [Fact]
    public void A_stride_overlaps_the_training_windows_but_not_the_test_windows()
    {
        using var d = Load(WriteText("abcdefghijklmnopqrstuvwxyz"), context: 4, testFraction: 0.25, stride: 2);
        // Starts 0, 2, …, 14 in the 20 training bytes (start 16 would need byte 20, which is a test byte).
        Assert.Equal(8, d.TrainCount);
        Assert.Equal("cdef", Row(d.Train["tokens"], 1));
        Assert.Equal("opqr", Row(d.Train["tokens"], 7));
        Assert.Equal("pqrs", Row(d.Train["next"], 7));
        Assert.Equal(1, d.TestCount);
    }

    [Fact]
    public void Every_byte_value_is_a_token()
    {
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        using var d = Load(WriteBytes(bytes), context: 255, testFraction: 0.0);
        Assert.Equal(1, d.TrainCount);
        Assert.Equal(0, d.TestCount);
        Assert.Equal(Enumerable.Range(0, 255).Select(i => (long)i), d.Train["tokens"][0].data<long>().ToArray());
        Assert.Equal(255L, d.Train["next"].max().item<long>());
    }

    [Fact]
    public void A_missing_empty_or_too_short_file_is_a_clear_error_naming_it()
    {
        var missing = Path.Combine(TempDir("text"), "nothing.txt");
        var e = Assert.Throws<SymDslException>(() => Load(missing, 4, 0.1));
        Assert.Equal($"{missing}: text file not found", e.Message);

        var empty = WriteText("");
        e = Assert.Throws<SymDslException>(() => Load(empty, 4, 0.1));
        Assert.Equal($"{empty}: the text file is empty", e.Message);

        var shortFile = WriteText("abcd");
        e = Assert.Throws<SymDslException>(() => Load(shortFile, 4, 0.0));
        Assert.StartsWith($"{shortFile}: too short: 4 of its 4 bytes are for training", e.Message);
        Assert.Contains("needs 5 bytes", e.Message);

        // Enough for training, not for one test window.
        var noTest = WriteText("abcdefghijklmnopqrst");
        e = Assert.Throws<SymDslException>(() => Load(noTest, 4, 0.1));
        Assert.StartsWith($"{noTest}: too short: its last 2 bytes are the test part (test_fraction 0.1)", e.Message);
    }

    [Fact]
    public void The_bigram_baselines_are_the_conditional_entropies_of_the_test_pairs()
    {
        // Training part "abab…": after a always b, after b always a. Test part "aaaa…" then "ab": its own counts give
        // H(next | a) over 9 pairs a→a and one a→b, H(next | current) = −(9 ln 0.9 + ln 0.1) / 10.
        var train = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("ab", 50)));
        var test = Encoding.ASCII.GetBytes("aaaaaaaaaab");
        var stats = TextStatistics.Bigram(train, test);
        Assert.Equal(-(9 * Math.Log(0.9) + Math.Log(0.1)) / 10, stats[TextStatistics.BigramTestCountsKey], 12);
        // From the training counts (a→b 50 times, a→a never; add-½ over 256 next bytes): p(a | a) = 0.5 / 178, p(b | a) = 50.5 / 178.
        var fitted = -(9 * Math.Log(0.5 / 178) + Math.Log(50.5 / 178)) / 10;
        Assert.Equal(fitted, stats[TextStatistics.BigramTrainCountsKey], 12);
        Assert.Empty(TextStatistics.Bigram(train, "a"u8));
    }

    [Fact]
    public void The_source_reports_its_bigram_baselines_on_the_test_windows()
    {
        var path = WriteText(string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
        using var d = Load(path, context: 8, testFraction: 0.2);
        Assert.True(d.Statistics[TextStatistics.BigramTestCountsKey] <= d.Statistics[TextStatistics.BigramTrainCountsKey]);
        Assert.InRange(d.Statistics[TextStatistics.BigramTestCountsKey], 0.0, Math.Log(256));
    }
}
