using System.IO.Compression;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

[Collection("torch")]
public class DataTests
{
    static DataSet Load(string kind, params (string k, Value v)[] args) => DataSources.Load(new DataIR(kind, Args(args), Span), 1);

    [Fact]
    public void Digits_has_1797_scaled_rows_and_a_seeded_split()
    {
        using var d = Load("digits", ("test_fraction", D(0.2)));
        Assert.Equal(1438, d.TrainCount);
        Assert.Equal(359, d.TestCount);
        Assert.Equal(new long[] { 1438, 64 }, d.Train["x"].shape);
        Assert.Equal(ScalarType.Int64, d.Train["label"].dtype);
        Assert.Equal(1f, d.Train["x"].max().item<float>());
        Assert.Equal(0f, d.Train["x"].min().item<float>());
        Assert.Equal(9L, d.Train["label"].max().item<long>());
        Assert.Equal(10, d.Classes);
        using var again = DataSources.Digits(0.2, 1);
        using var other = DataSources.Digits(0.2, 2);
        Assert.True(d.Train["label"].equal(again.Train["label"]).all().item<bool>());
        Assert.False(d.Train["label"].equal(other.Train["label"]).all().item<bool>());
    }

    static string WriteCsv(string text)
    {
        var path = Path.Combine(TempDir("csv"), "data.csv");
        File.WriteAllText(path, text);
        return path;
    }

    const string Wine = "a,b,class,c\n1,2,0,3\n4,5,1,6\n7,8,2,9\n10,11,1,12\n13,14,0,15\n";

    [Fact]
    public void Csv_label_by_name_and_by_index()
    {
        var path = WriteCsv(Wine);
        using var byName = Load("csv", ("path", S(path)), ("label", S("class")), ("test_fraction", D(0.0)));
        using var byIndex = Load("csv", ("path", S(path)), ("label", I(2)), ("test_fraction", D(0.0)));
        Assert.Equal(new long[] { 5, 3 }, byName.Train["x"].shape);
        Assert.Equal(3, byName.Classes);
        Assert.True(byName.Train["x"].equal(byIndex.Train["x"]).all().item<bool>());
        Assert.True(byName.Train["label"].equal(byIndex.Train["label"]).all().item<bool>());
        // Each row keeps its label: feature a = 1 + 3·row and labels are 0,1,2,1,0 by row.
        var a = byName.Train["x"][.., 0].data<float>().ToArray();
        var labels = byName.Train["label"].data<long>().ToArray();
        var expected = new Dictionary<float, long> { [1] = 0, [4] = 1, [7] = 2, [10] = 1, [13] = 0 };
        for (var i = 0; i < 5; i++) Assert.Equal(expected[a[i]], labels[i]);
        // The features are the other columns in order: a, b, c (= a, a + 1, a + 2).
        var rows = byName.Train["x"].data<float>().ToArray().Chunk(3).ToList();
        Assert.All(rows, r => Assert.Equal(new[] { r[0], r[0] + 1, r[0] + 2 }, r));
    }

    [Fact]
    public void Csv_string_labels_map_to_sorted_indices()
    {
        var path = WriteCsv("x,species\n1,versicolor\n2,setosa\n3,virginica\n4,setosa\n");
        using var d = Load("csv", ("path", S(path)), ("label", S("species")), ("test_fraction", D(0.0)));
        Assert.Equal(["setosa", "versicolor", "virginica"], d.ClassNames!);
        var x = d.Train["x"][.., 0].data<float>().ToArray();
        var y = d.Train["label"].data<long>().ToArray();
        var byX = x.Zip(y).ToDictionary(p => p.First, p => p.Second);
        Assert.Equal(1L, byX[1]);
        Assert.Equal(0L, byX[2]);
        Assert.Equal(2L, byX[3]);
        Assert.Equal(0L, byX[4]);
    }

    [Fact]
    public void Csv_standardize_fits_on_the_training_split_only()
    {
        var rows = string.Join("\n", Enumerable.Range(0, 50).Select(i => $"{i * i},{i % 3}"));
        var path = WriteCsv("f,label\n" + rows + "\n");
        using var raw = Load("csv", ("path", S(path)), ("label", S("label")), ("test_fraction", D(0.2)), ("standardize", B(false)));
        using var std = Load("csv", ("path", S(path)), ("label", S("label")), ("test_fraction", D(0.2)), ("standardize", B(true)));
        var train = std.Train["x"];
        Assert.True(Math.Abs(train.mean().item<float>()) < 1e-5);
        Assert.True(Math.Abs(train.std(unbiased: false).item<float>() - 1) < 1e-4);
        var mean = raw.Train["x"].mean().item<float>();
        var sd = raw.Train["x"].std(unbiased: false).item<float>();
        var expectedTest = (raw.Test["x"] - mean) / sd;
        Assert.True(std.Test["x"].allclose(expectedTest, 1e-4, 1e-5));
        Assert.False(Math.Abs(std.Test["x"].mean().item<float>()) < 1e-5 && Math.Abs(std.Test["x"].std(unbiased: false).item<float>() - 1) < 1e-4);
    }

    [Theory]
    [InlineData("a,b,class,c\n1,2,0,3\n4,5,1\n", ":3:", "expected 4 columns")]
    [InlineData("a,b,class,c\n1,2,0,3\n4,five,1,6\n", ":3:", "not a number")]
    [InlineData("a,b,klass,c\n1,2,0,3\n", ":1:", "no column named \"class\"")]
    [InlineData("a,b,class,c\n1,2,0,3\n4,1e39,1,6\n", ":3:", "column \"b\" is not a finite float32 number: \"1e39\"")]
    [InlineData("a,b,class,c\n1,NaN,0,3\n", ":2:", "column \"b\" is not a finite float32 number: \"NaN\"")]
    public void Malformed_csv_names_the_file_and_line(string text, string line, string message)
    {
        var path = WriteCsv(text);
        var e = Assert.Throws<SymDslException>(() => Load("csv", ("path", S(path)), ("label", S("class")), ("test_fraction", D(0.0))));
        Assert.Contains(path + line, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Csv_reads_quoted_fields_crlf_and_a_byte_order_mark()
    {
        // Quoted header and label cells hold commas, doubled quotes and a line break; CRLF line ends; a UTF-8 BOM.
        var text = "\"width, cm\",\"say \"\"hi\"\"\",class\r\n"
                 + "1.5,\"2\",\"a, b\"\r\n"
                 + "\r\n"
                 + " 3 , 4 ,\"say \"\"c\"\"\"\r\n"
                 + "5,6,\"two\r\nlines\"\r\n"
                 + "7,8,\"a, b\"\r\n";
        var path = Path.Combine(TempDir("csv"), "quoted.csv");
        File.WriteAllText(path, text, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        Assert.Equal(0xEF, File.ReadAllBytes(path)[0]);
        using var d = Load("csv", ("path", S(path)), ("label", S("class")), ("test_fraction", D(0.0)));
        Assert.Equal(["a, b", "say \"c\"", "two\r\nlines"], d.ClassNames!);
        Assert.Equal(new long[] { 4, 2 }, d.Train["x"].shape);
        var x = d.Train["x"].data<float>().ToArray().Chunk(2).ToList();
        var y = d.Train["label"].data<long>().ToArray();
        var byFirst = x.Zip(y).ToDictionary(p => p.First[0], p => (p.First[1], p.Second));
        Assert.Equal((2f, 0L), byFirst[1.5f]);
        Assert.Equal((4f, 1L), byFirst[3f]);
        Assert.Equal((6f, 2L), byFirst[5f]);
        Assert.Equal((8f, 0L), byFirst[7f]);
        // Rows keep their lines across the blank line and the quoted line break.
        Assert.EndsWith("quoted.csv:2", d.LabelOrigins![0]);
        Assert.EndsWith("quoted.csv:4", d.LabelOrigins[1]);
        Assert.EndsWith("quoted.csv:5", d.LabelOrigins[2]);
    }

    [Theory]
    [InlineData("a,b,class,c\n1,2,0,3\n4,5\"x,1,6\n", ":3:", "malformed quoted field")]
    [InlineData("a,b,class,c\n1,2,0,3\n\"4\"5,5,1,6\n", ":3:", "malformed quoted field")]
    [InlineData("a,b,class,c\n1,2,0,3\n4,\"5,1,6\n7,8,0,9\n", ":3:", "malformed quoted field")]
    [InlineData("a,b,class,c\r\n1,2,0,3\r\n\"4,5\",5,1,6,7\r\n", ":3:", "expected 4 columns, found 5")]
    [InlineData("a,b,class,c\n\"1\",\"2,5\",0,3\n", ":2:", "column \"b\" is not a number: \"2,5\"")]
    [InlineData("a,b,class,c\n1,2,0,3\n\"4\n\",5,1,6\n7,,0,9\n", ":5:", "column \"b\" is not a number: \"\"")]
    [InlineData("", ":1:", "no header row")]
    [InlineData("\n\na,b,class,c\n1,2,0,3\n", ":1:", "no header row")]
    [InlineData("\"a, x\",\"b\",\"klass\"\n1,2,0\n", ":1:", "no column named \"class\" in the header (a, x, b, klass)")]
    public void Malformed_quoting_and_shape_name_the_file_and_line(string text, string line, string message)
    {
        var path = WriteCsv(text);
        var e = Assert.Throws<SymDslException>(() => Load("csv", ("path", S(path)), ("label", S("class")), ("test_fraction", D(0.0))));
        Assert.StartsWith(path + line, e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void A_csv_with_a_header_and_no_rows_is_an_error()
    {
        var e = Assert.Throws<SymDslException>(() => Load("csv", ("path", S(WriteCsv("a,class\r\n\r\n"))), ("label", S("class")), ("test_fraction", D(0.0))));
        Assert.Contains("no data rows", e.Message);
    }

    [Theory]
    [InlineData("a,b,class,c\n1,2,0,3\n4,5,NaN,6\n7,8,1,9\n", ":3:", "label \"NaN\"")]
    [InlineData("a,b,class,c\n1,2,0,3\n4,5,1,6\n7,8,-1,9\n", ":4:", "label \"-1\"")]
    [InlineData("a,b,class,c\n1,2,0.5,3\n", ":2:", "label \"0.5\"")]
    [InlineData("a,b,class,c\n1,2,0,3\n\n4,5,inf,6\n", ":4:", "label \"inf\"")]
    public void A_numeric_label_that_is_not_a_class_index_names_its_row(string text, string line, string message)
    {
        var path = WriteCsv(text);
        var e = Assert.Throws<SymDslException>(() => Load("csv", ("path", S(path)), ("label", S("class")), ("test_fraction", D(0.0))));
        Assert.StartsWith(path + line, e.Message);
        Assert.Contains(message, e.Message);
        Assert.Contains("not a class index", e.Message);
    }

    [Fact]
    public void Csv_labels_remember_the_first_row_of_each_value()
    {
        using var d = Load("csv", ("path", S(WriteCsv("a,class\n1,2\n2,0\n3,2.0\n4,1\n"))), ("label", S("class")), ("test_fraction", D(0.0)));
        Assert.Equal(3, d.Classes);
        Assert.EndsWith("data.csv:2", d.LabelOrigins![2]);
        Assert.EndsWith("data.csv:3", d.LabelOrigins[0]);
        Assert.EndsWith("data.csv:5", d.LabelOrigins[1]);
    }

    [Fact]
    public void Missing_data_file_is_an_error()
    {
        var e = Assert.Throws<SymDslException>(() => Load("csv", ("path", S("/nonexistent/wine.csv")), ("label", S("class"))));
        Assert.Contains("/nonexistent/wine.csv", e.Message);
        Assert.Contains("not found", e.Message);
    }

    static byte[] IdxBytes(byte typeCode, int[] dims, byte[] data)
    {
        var ms = new MemoryStream();
        ms.Write([0, 0, typeCode, (byte)dims.Length]);
        foreach (var d in dims) ms.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        ms.Write(data);
        return ms.ToArray();
    }

    static string WriteIdx(string dir, string name, byte[] bytes, bool gzip)
    {
        var path = Path.Combine(dir, name + (gzip ? ".gz" : ""));
        if (!gzip) { File.WriteAllBytes(path, bytes); return path; }
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        gz.Write(bytes);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_files_gzipped_or_not(bool gzip)
    {
        var dir = TempDir("idx");
        const int n = 10;
        var pixels = Enumerable.Range(0, n * 2 * 3).Select(i => (byte)(i * 4)).ToArray();
        var labels = Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
        var images = WriteIdx(dir, "images-idx3-ubyte", IdxBytes(0x08, [n, 2, 3], pixels), gzip);
        var labelsPath = WriteIdx(dir, "labels-idx1-ubyte", IdxBytes(0x08, [n], labels), gzip);
        using var d = Load("idx", ("images", S(images)), ("labels", S(labelsPath)), ("test_fraction", D(0.0)));
        Assert.Equal(new long[] { n, 6 }, d.Train["x"].shape);
        // Row with label k holds pixels 6k .. 6k+5, times 4 / 255.
        var x = d.Train["x"]; var y = d.Train["label"].data<long>().ToArray();
        for (var i = 0; i < n; i++)
            Assert.Equal(y[i] * 6 * 4 / 255f, x[i, 0].item<float>(), 5);
    }

    [Fact]
    public void Idx_with_separate_test_files_uses_them_as_the_test_split()
    {
        var dir = TempDir("idx-test");
        var images = WriteIdx(dir, "train-images", IdxBytes(0x08, [6, 2, 2], Enumerable.Repeat((byte)10, 24).ToArray()), true);
        var labels = WriteIdx(dir, "train-labels", IdxBytes(0x08, [6], [0, 1, 2, 3, 4, 5]), true);
        var testImages = WriteIdx(dir, "test-images", IdxBytes(0x08, [3, 2, 2], Enumerable.Repeat((byte)255, 12).ToArray()), false);
        var testLabels = WriteIdx(dir, "test-labels", IdxBytes(0x08, [3], [7, 8, 9]), false);
        using var d = Load("idx", ("images", S(images)), ("labels", S(labels)), ("test_images", S(testImages)), ("test_labels", S(testLabels)), ("test_fraction", D(0.5)));
        Assert.Equal(6, d.TrainCount);
        Assert.Equal(3, d.TestCount);
        Assert.Equal(1f, d.Test["x"].min().item<float>());
        Assert.Equal(new long[] { 7, 8, 9 }, d.Test["label"].data<long>().ToArray());
    }

    [Fact]
    public void Fashion_mnist_reads_the_four_files_of_a_directory()
    {
        var dir = TempDir("fm-files");
        var rnd = new Random(1);
        foreach (var (prefix, n) in new[] { ("train", 8), ("t10k", 4) })
        {
            var px = new byte[n * 28 * 28]; rnd.NextBytes(px);
            WriteIdx(dir, $"{prefix}-images-idx3-ubyte", IdxBytes(0x08, [n, 28, 28], px), true);
            WriteIdx(dir, $"{prefix}-labels-idx1-ubyte", IdxBytes(0x08, [n], Enumerable.Range(0, n).Select(i => (byte)i).ToArray()), true);
        }
        using var official = Load("fashion_mnist", ("dir", S(dir)), ("test_fraction", D(0.0)));
        Assert.Equal(8, official.TrainCount);
        Assert.Equal(4, official.TestCount);
        Assert.Equal(new long[] { 8, 784 }, official.Train["x"].shape);
        Assert.Equal("Ankle boot", official.ClassNames![9]);
        using var pooled = Load("fashion_mnist", ("dir", S(dir)), ("test_fraction", D(0.25)));
        Assert.Equal(9, pooled.TrainCount);
        Assert.Equal(3, pooled.TestCount);
    }

    [Fact]
    public void Idx_with_a_bad_magic_number_names_the_file()
    {
        var dir = TempDir("idx-bad");
        var images = WriteIdx(dir, "images", [1, 2, 3, 4, 5, 6, 7, 8], false);
        var labels = WriteIdx(dir, "labels", IdxBytes(0x08, [1], [0]), false);
        var e = Assert.Throws<SymDslException>(() => Load("idx", ("images", S(images)), ("labels", S(labels))));
        Assert.Contains(images, e.Message);
        Assert.Contains("magic", e.Message);
        var truncated = WriteIdx(dir, "short", IdxBytes(0x08, [5, 2, 2], [1, 2, 3]), true);
        var e2 = Assert.Throws<SymDslException>(() => Load("idx", ("images", S(truncated)), ("labels", S(labels))));
        Assert.Contains(truncated, e2.Message);
    }

    [Fact]
    public void Fashion_mnist_absent_says_how_to_install_it()
    {
        // Neither the given folder nor the package's (pointed at a missing folder, so that the test means the same
        // whether or not .ci/data installed the package on this machine).
        var missing = Path.Combine(TempDir("fm"), "none");
        var noPackage = Path.Combine(TempDir("fm-system"), "none");
        var e = Assert.Throws<SymDslException>(() => DataSources.FashionMnist(missing, 1, 0.0, systemDir: noPackage));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains(missing, e.Message);
        Assert.Contains(noPackage, e.Message);
    }

    [Fact]
    public void Lowrank_regression_with_a_spectrum_has_those_singular_values_and_reads_neither_top_nor_ratio()
    {
        var spectrum = new Value.List([D(1.0), D(0.75), D(0.5), D(0.25)]);
        using var d = Load("lowrank_regression", ("d", I(6)), ("rank", I(4)), ("samples", I(400)), ("top", D(3.0)), ("ratio", D(0.9)), ("spectrum", spectrum), ("noise", D(0.0)), ("test_fraction", D(0.25)));
        var x = d.Train["x"].to_type(ScalarType.Float64);
        var y = d.Train["target"].to_type(ScalarType.Float64);
        var s = linalg.svdvals(linalg.lstsq(x, y).Solution).data<double>().ToArray();
        Assert.Equal(new[] { 1.0, 0.75, 0.5, 0.25 }, s[..4].Select(v => Math.Round(v, 3)));
        Assert.True(s[4] < 1e-4 && s[5] < 1e-4);
        // The same seed and d give the same singular vectors as the geometric form: only the spectrum differs.
        using var geometric = Load("lowrank_regression", ("d", I(6)), ("rank", I(4)), ("samples", I(400)), ("top", D(1.0)), ("ratio", D(0.5)), ("noise", D(0.0)), ("test_fraction", D(0.25)));
        Assert.True(geometric.Train["x"].eq(d.Train["x"]).all().item<bool>());
    }

    [Fact]
    public void Lowrank_regression_refuses_a_spectrum_that_does_not_match_its_rank()
    {
        var e = Assert.Throws<SymDslException>(() => Load("lowrank_regression", ("d", I(6)), ("rank", I(3)), ("samples", I(40)), ("top", D(1.0)), ("ratio", D(0.5)),
            ("spectrum", new Value.List([D(1.0), D(0.5)])), ("noise", D(0.0)), ("test_fraction", D(0.25))));
        Assert.Equal("lowrank_regression: 'spectrum' has 2 values but 'rank' is 3 (one singular value per rank)", e.Message);
    }

    [Fact]
    public void Lowrank_regression_has_the_promised_singular_values()
    {
        using var d = Load("lowrank_regression", ("d", I(6)), ("rank", I(3)), ("samples", I(400)), ("top", D(2.0)), ("ratio", D(0.5)), ("noise", D(0.0)), ("test_fraction", D(0.25)));
        Assert.Equal(new long[] { 300, 6 }, d.Train["x"].shape);
        Assert.Equal(new long[] { 300, 6 }, d.Train["target"].shape);
        var x = d.Train["x"].to_type(ScalarType.Float64);
        var y = d.Train["target"].to_type(ScalarType.Float64);
        var a = linalg.lstsq(x, y).Solution.t(); // y = x Aᵀ
        var s = linalg.svdvals(a).data<double>().ToArray();
        Assert.Equal(2.0, s[0], 3);
        Assert.Equal(1.0, s[1], 3);
        Assert.Equal(0.5, s[2], 3);
        Assert.True(s[3] < 1e-4);
        // x ~ N(0, I)
        Assert.InRange(x.std().item<double>(), 0.9, 1.1);
    }

    [Fact]
    public void Teacher_is_deterministic_in_the_seed()
    {
        var args = new (string, Value)[] { ("d_in", I(5)), ("d_out", I(2)), ("hidden", I(7)), ("samples", I(50)), ("noise", D(0.1)) };
        using var a = DataSources.Load(new DataIR("teacher", Args(args), Span), 3);
        using var b = DataSources.Load(new DataIR("teacher", Args(args), Span), 3);
        using var c = DataSources.Load(new DataIR("teacher", Args(args), Span), 4);
        Assert.Equal(new long[] { 40, 2 }, a.Train["target"].shape);
        Assert.True(a.Train["target"].equal(b.Train["target"]).all().item<bool>());
        Assert.False(a.Train["target"].allclose(c.Train["target"]));
    }

    [Fact]
    public void Unknown_data_source_is_an_error()
    {
        var e = Assert.Throws<SymDslException>(() => Load("cifar"));
        Assert.Contains("cifar", e.Message);
    }
}
