using System.Globalization;
using System.IO.Compression;
using SymDsl.Diagnostics;
using SymDsl.IR;
using TorchSharp;
using static TorchSharp.torch;
using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Data;

/// <summary>
/// A loaded data source: named fields (e.g. "x" float32 [N, 64] and "label" int64 [N]) split into train and test.
/// Tensors live on the CPU; the trainer moves them. Disposing disposes every field.
/// </summary>
public sealed class DataSet : IDisposable
{
    public DataSet(string name, Dictionary<string, Tensor> train, Dictionary<string, Tensor> test, int? classes = null, IReadOnlyList<string>? classNames = null)
    {
        Name = name; Train = train; Test = test; Classes = classes; ClassNames = classNames;
    }
    public string Name { get; }
    public Dictionary<string, Tensor> Train { get; }
    public Dictionary<string, Tensor> Test { get; }
    /// <summary>The number of label classes for classification sources, else null.</summary>
    public int? Classes { get; }
    public IReadOnlyList<string>? ClassNames { get; }
    /// <summary>For sources read from a file: where each label value first occurs ("data.csv:12"), so that a label the model cannot take is reported at its row.</summary>
    public IReadOnlyDictionary<long, string>? LabelOrigins { get; set; }
    /// <summary>Numbers about the data that a run reports in its summary as <c>data_KEY</c> (text: the bigram entropies).</summary>
    public Dictionary<string, double> Statistics { get; } = new();
    public long TrainCount => Train.Values.First().shape[0];
    public long TestCount => Test.Count == 0 ? 0 : Test.Values.First().shape[0];

    public void Dispose()
    {
        foreach (var t in Train.Values.Concat(Test.Values)) t.Dispose();
    }
}

/// <summary>Loads the data source a <see cref="DataIR"/> names. Splits and synthetic draws are deterministic in the seed.</summary>
public static class DataSources
{
    /// <summary>
    /// The loader of each data source of <see cref="Vocabulary.DataSourceDefinitions"/>, found by name (a test checks that
    /// every source has one). Arguments come with the definition's defaults filled in; a loader has no defaults of its own.
    /// </summary>
    static readonly IReadOnlyDictionary<string, Func<Vocabulary.BoundArgs, long, DataSet>> Loaders = new Dictionary<string, Func<Vocabulary.BoundArgs, long, DataSet>>
    {
        ["digits"] = (a, seed) => Digits(a.Double("test_fraction"), seed),
        ["csv"] = (a, seed) => Csv(a.Text("path"), a["label"], a.Double("test_fraction"), a.Bool("standardize"), seed),
        ["idx"] = (a, seed) => Idx(a.Text("images"), a.Text("labels"), a.Double("test_fraction"), seed, a.Optional("test_images")?.AsText(), a.Optional("test_labels")?.AsText()),
        ["fashion_mnist"] = (a, seed) => FashionMnist(a.Text("dir"), seed, a.Double("test_fraction")),
        ["teacher"] = (a, seed) => Teacher((int)a.Int("d_in"), (int)a.Int("d_out"), (int)a.Int("hidden"), (int)a.Int("samples"), a.Double("noise"), a.Double("test_fraction"), seed),
        ["lowrank_regression"] = (a, seed) => LowRankRegression((int)a.Int("d"), Vocabulary.LowRankSpectrum.Values(a), (int)a.Int("samples"),
            a.Double("noise"), a.Double("test_fraction"), seed),
        ["text"] = (a, _) => Text(a.Text("path"), (int)a.Int("context"), a.Optional("stride") is { } stride ? (int)stride.AsInt() : null, a.Double("test_fraction")),
    };

    /// <summary>The data sources with a loader (a test compares them with the language's).</summary>
    public static IEnumerable<string> Implemented => Loaders.Keys;

    public static DataSet Load(DataIR data, long seed)
    {
        if (Vocabulary.DataSourceDefinitions.Find(data.Kind) is not { } definition || !Loaders.TryGetValue(data.Kind, out var load))
            throw new SymDslException($"unknown data source {data.Kind} ({string.Join(", ", Vocabulary.DataSourceDefinitions.Names)})");
        return load(definition.Bind(data.Args), seed);
    }

    /// <summary>A permutation of 0..n-1 drawn with System.Random(seed) (Fisher–Yates): stable across runs and platforms.</summary>
    public static int[] Permutation(int n, long seed)
    {
        var rng = new Random(unchecked((int)(seed ^ (seed >> 32))));
        var p = Enumerable.Range(0, n).ToArray();
        for (var i = n - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    /// <summary>Shuffles the rows with the seed, then puts the last round(n·test_fraction) rows in the test split.</summary>
    public static DataSet Split(string name, Dictionary<string, Tensor> fields, double testFraction, long seed, int? classes = null, IReadOnlyList<string>? classNames = null)
    {
        if (testFraction < 0 || testFraction >= 1) throw new SymDslException($"{name}: test_fraction must be in [0, 1), got {testFraction}");
        var n = (int)fields.Values.First().shape[0];
        var nTest = (int)Math.Round(n * testFraction);
        if (n - nTest < 1) throw new SymDslException($"{name}: no training rows left ({n} rows, test_fraction {testFraction})");
        var perm = Permutation(n, seed * 7919 + 17);
        using var trainIdx = tensor(perm[..(n - nTest)].Select(i => (long)i).ToArray());
        using var testIdx = tensor(perm[(n - nTest)..].Select(i => (long)i).ToArray());
        var train = fields.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, trainIdx));
        var test = fields.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, testIdx));
        foreach (var t in fields.Values) t.Dispose();
        return new DataSet(name, train, test, classes, classNames);
    }

    // ------------------------------------------------------------------ digits

    public static DataSet Digits(double testFraction, long seed)
    {
        var (xs, ys) = DigitsRows.Value;
        var n = ys.Length;
        var fields = new Dictionary<string, Tensor>
        {
            ["x"] = tensor(xs).reshape(n, 64),
            ["label"] = tensor(ys),
        };
        return Split("digits", fields, testFraction, seed, 10);
    }

    /// <summary>The embedded digits set, parsed once per process (immutable arrays; every run makes its own tensors of them).</summary>
    static readonly Lazy<(float[] X, long[] Y)> DigitsRows = new(ParseDigits);

    static (float[] X, long[] Y) ParseDigits()
    {
        using var stream = typeof(DataSources).Assembly.GetManifestResourceStream("SymDsl.Datasets.digits.csv.gz")
            ?? throw new SymDslException("the digits data set is missing from the SymDsl.Torch assembly");
        using var gz = new GZipStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        var xs = new List<float>();
        var ys = new List<long>();
        foreach (var (lineNo, cells) in CsvRows.Read(reader, "digits.csv"))
        {
            if (!double.TryParse(cells[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _)) continue; // header
            if (cells.Length != 65) throw new SymDslException($"digits.csv:{lineNo}: expected 65 columns, found {cells.Length}");
            for (var i = 0; i < 64; i++) xs.Add(float.Parse(cells[i], CultureInfo.InvariantCulture) / 16f);
            ys.Add((long)double.Parse(cells[64], CultureInfo.InvariantCulture));
        }
        return (xs.ToArray(), ys.ToArray());
    }

    // ------------------------------------------------------------------ csv

    /// <summary>
    /// A CSV file with a header row. <paramref name="label"/>: the label column by name (Str/Name) or 0-based index (Int).
    /// Other columns are float features (field "x"). Labels: all integers → used as they are (classes = max + 1);
    /// otherwise the distinct strings sorted ordinally map to 0..K-1. <paramref name="standardize"/> fits mean/std
    /// on the training split only and applies them to both splits.
    /// </summary>
    public static DataSet Csv(string path, Value label, double testFraction, bool standardize, long seed)
    {
        if (!File.Exists(path)) throw new SymDslException($"{path}: data file not found");
        List<(int Line, string[] Cells)> rows;
        try
        {
            using var reader = CsvRows.Open(path);
            rows = CsvRows.Read(reader, path).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"{path}: cannot read the data file: {System.Text.RegularExpressions.Regex.Replace(e.Message.Trim(), @"\s*:\s*'[^']*'$", "")}", e);
        }
        if (rows.Count == 0 || rows[0].Line != 1) throw new SymDslException($"{path}:1: the CSV file has no header row");
        var header = rows[0].Cells;
        int labelCol;
        if (label is Value.Int li)
        {
            labelCol = (int)li.V;
            if (labelCol < 0 || labelCol >= header.Length) throw new SymDslException($"{path}:1: label column index {labelCol} is out of range (the header has {header.Length} columns)");
        }
        else
        {
            var name = label.AsText();
            labelCol = Array.IndexOf(header, name);
            if (labelCol < 0) throw new SymDslException($"{path}:1: no column named \"{name}\" in the header ({string.Join(", ", header)})");
        }
        var features = new List<float>();
        var labels = new List<string>();
        var labelLines = new List<int>();
        var nFeat = header.Length - 1;
        foreach (var (lineNo, cells) in rows.Skip(1))
        {
            if (cells.Length != header.Length)
                throw new SymDslException($"{path}:{lineNo}: expected {header.Length} columns, found {cells.Length}");
            for (var c = 0; c < cells.Length; c++)
            {
                var cell = cells[c];
                if (c == labelCol) { labels.Add(cell); labelLines.Add(lineNo); continue; }
                if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var f))
                    throw new SymDslException($"{path}:{lineNo}: column \"{header[c]}\" is not a number: \"{cell}\"");
                if (!float.IsFinite(f)) // NaN, Infinity, or beyond float32's range (1e39)
                    throw new SymDslException($"{path}:{lineNo}: column \"{header[c]}\" is not a finite float32 number: \"{cell}\"");
                features.Add(f);
            }
        }
        if (labels.Count == 0) throw new SymDslException($"{path}: no data rows");
        long[] ys;
        int classes;
        IReadOnlyList<string>? names = null;
        // Numeric labels are class indices: when any label is a number (NaN and -1 included), each must be a whole
        // number ≥ 0 (a word among numbers, such as "inf" or "missing", is reported at its row too).
        if (labels.Any(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
        {
            ys = new long[labels.Count];
            for (var i = 0; i < labels.Count; i++)
            {
                var isNumber = double.TryParse(labels[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v);
                if (!isNumber || !(v >= 0 && v == Math.Floor(v) && v <= int.MaxValue))
                    throw new SymDslException($"{path}:{labelLines[i]}: label \"{labels[i]}\" in column \"{header[labelCol]}\" is not a class index (a whole number 0, 1, 2, …)");
                ys[i] = (long)v;
            }
            classes = (int)ys.Max() + 1;
        }
        else
        {
            var distinct = labels.Distinct().OrderBy(s => s, StringComparer.Ordinal).ToList();
            var map = distinct.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => (long)p.i);
            ys = labels.Select(s => map[s]).ToArray();
            classes = distinct.Count;
            names = distinct;
        }
        var n = ys.Length;
        var fields = new Dictionary<string, Tensor>
        {
            ["x"] = tensor(features.ToArray()).reshape(n, nFeat),
            ["label"] = tensor(ys),
        };
        var ds = Split(Path.GetFileName(path), fields, testFraction, seed, classes, names);
        var origins = new Dictionary<long, string>();
        for (var i = 0; i < ys.Length; i++) origins.TryAdd(ys[i], $"{path}:{labelLines[i]}");
        ds.LabelOrigins = origins;
        if (standardize)
        {
            using var scope = NewDisposeScope();
            var x = ds.Train["x"];
            var mean = x.mean([0], keepdim: true);
            using var eps = 1e-8.ToScalar();
            var std = x.std(0, keepdim: true, unbiased: false).clamp_min(eps);
            var trainX = ((x - mean) / std).MoveToOuterDisposeScope();
            var testX = ((ds.Test["x"] - mean) / std).MoveToOuterDisposeScope();
            ds.Train["x"].Dispose(); ds.Test["x"].Dispose();
            ds.Train["x"] = trainX; ds.Test["x"] = testX;
        }
        return ds;
    }

    // ------------------------------------------------------------------ idx (MNIST format)

    /// <summary>Reads an IDX file (gzipped or not, detected by the gzip magic): magic 0x0000_08_NN, dims big-endian, unsigned bytes.</summary>
    public static (int[] dims, byte[] data) ReadIdx(string path)
    {
        if (!File.Exists(path)) throw new SymDslException($"{path}: data file not found");
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                bytes = ms.ToArray();
            }
            catch (InvalidDataException e) { throw new SymDslException($"{path}: corrupt gzip data ({e.Message})"); }
        }
        if (bytes.Length < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
            throw new SymDslException($"{path}: not an IDX file of unsigned bytes (bad magic number)");
        int rank = bytes[3];
        if (rank < 1 || rank > 4 || bytes.Length < 4 + 4 * rank) throw new SymDslException($"{path}: bad IDX header (rank {rank})");
        var dims = new int[rank];
        for (var i = 0; i < rank; i++)
            dims[i] = (bytes[4 + 4 * i] << 24) | (bytes[5 + 4 * i] << 16) | (bytes[6 + 4 * i] << 8) | bytes[7 + 4 * i];
        var count = dims.Aggregate(1L, (x, d) => x * d);
        var offset = 4 + 4 * rank;
        if (bytes.Length - offset != count)
            throw new SymDslException($"{path}: IDX header promises {count} values but the file holds {bytes.Length - offset}");
        return (dims, bytes[offset..]);
    }

    /// <summary>
    /// MNIST-format images [N, r, c] (scaled to [0, 1], field "x" [N, r*c]) and labels [N] (field "label"). With
    /// <paramref name="testImages"/> and <paramref name="testLabels"/> those files are the test split (test_fraction unused);
    /// otherwise the test split is carved out with the seed. Classes: max label + 1 (at least 10).
    /// </summary>
    public static DataSet Idx(string images, string labels, double testFraction, long seed, string? testImages = null, string? testLabels = null)
    {
        if ((testImages is null) != (testLabels is null))
            throw new SymDslException($"idx: give both test_images and test_labels, or neither");
        var train = IdxFields(images, labels);
        if (testImages is null) return Split(Path.GetFileName(images), train, testFraction, seed, Classes(train["label"]));
        var test = IdxFields(testImages, testLabels!);
        if (train["x"].shape[1] != test["x"].shape[1])
            throw new SymDslException($"{testImages}: images of {test["x"].shape[1]} pixels, but {images} has {train["x"].shape[1]}");
        return new DataSet(Path.GetFileName(images), train, test, Math.Max(Classes(train["label"]), Classes(test["label"])));
    }

    static int Classes(Tensor labels) => labels.numel() == 0 ? 10 : Math.Max(10, (int)labels.max().item<long>() + 1);

    static Dictionary<string, Tensor> IdxFields(string images, string labels)
    {
        var (idims, ibytes) = ReadIdx(images);
        var (ldims, lbytes) = ReadIdx(labels);
        if (idims.Length != 3) throw new SymDslException($"{images}: expected images of rank 3 [N, rows, cols], found rank {idims.Length}");
        if (ldims.Length != 1) throw new SymDslException($"{labels}: expected labels of rank 1 [N], found rank {ldims.Length}");
        if (idims[0] != ldims[0]) throw new SymDslException($"{images} holds {idims[0]} images but {labels} holds {ldims[0]} labels");
        using var scope = NewDisposeScope();
        using var maxByte = 255f.ToScalar();
        var x = tensor(ibytes, dtype: ScalarType.Byte).to_type(ScalarType.Float32).div_(maxByte).reshape(idims[0], idims[1] * idims[2]);
        var y = tensor(lbytes, dtype: ScalarType.Byte).to_type(ScalarType.Int64);
        return new Dictionary<string, Tensor> { ["x"] = x.MoveToOuterDisposeScope(), ["label"] = y.MoveToOuterDisposeScope() };
    }

    // ------------------------------------------------------------------ fashion_mnist

    public const string FashionMnistDir = "/usr/share/datasets/fashion-mnist";

    /// <summary>
    /// Fashion-MNIST: the four IDX files (gzipped or not) in <paramref name="dir"/>, or, when they are not there, in the
    /// Debian package dataset-fashion-mnist's <see cref="FashionMnistDir"/>. test_fraction 0 keeps the official split
    /// (60 000 / 10 000); a positive test_fraction pools all 70 000 images and splits them with the seed.
    /// <paramref name="systemDir"/> replaces the package's folder (tests point it at a missing one).
    /// </summary>
    public static DataSet FashionMnist(string dir, long seed, double testFraction = 0.0, string systemDir = FashionMnistDir)
    {
        string? Find(string d, string stem)
        {
            foreach (var f in new[] { stem + ".gz", stem })
                if (File.Exists(Path.Combine(d, f))) return Path.Combine(d, f);
            return null;
        }
        string[] stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];
        var chosen = new[] { dir, systemDir }.FirstOrDefault(d => stems.All(st => Find(d, st) is not null))
            ?? throw new SymDslException($"Fashion-MNIST not found in {dir} nor in {systemDir} (train-images-idx3-ubyte.gz etc.); install it with `apt-get install dataset-fashion-mnist`");
        var files = stems.Select(st => Find(chosen, st)!).ToArray();
        var train = IdxFields(files[0], files[1]);
        var test = IdxFields(files[2], files[3]);
        string[] names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
        if (testFraction <= 0) return new DataSet("fashion_mnist", train, test, 10, names);
        var pooled = train.Keys.ToDictionary(k => k, k => cat([train[k], test[k]], 0));
        foreach (var t in train.Values.Concat(test.Values)) t.Dispose();
        return Split("fashion_mnist", pooled, testFraction, seed, 10, names);
    }

    // ------------------------------------------------------------------ text (bytes)

    /// <summary>
    /// A byte-level corpus: every byte is a token (vocabulary 256). The file's first n − round(n·test_fraction) bytes are
    /// the training part, the rest the test part; windows are cut inside each part, so none crosses the split. A window
    /// of <paramref name="context"/> + 1 bytes b₀ … b_N gives <c>tokens</c> = b₀ … b_{N−1} and <c>next</c> = b₁ … b_N.
    /// Training windows start every <paramref name="stride"/> bytes (default: <paramref name="context"/>, no overlap),
    /// test windows every <paramref name="context"/> bytes, so that each test position is scored once. No randomness.
    /// <see cref="DataSet.Statistics"/> holds the bigram baselines (<see cref="TextStatistics"/>).
    /// </summary>
    public static DataSet Text(string path, int context, int? stride, double testFraction)
    {
        if (!File.Exists(path)) throw new SymDslException($"{path}: text file not found");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"{path}: cannot read the text file: {e.Message}", e);
        }
        if (bytes.Length == 0) throw new SymDslException($"{path}: the text file is empty");
        if (testFraction < 0 || testFraction >= 1) throw new SymDslException($"{path}: test_fraction must be in [0, 1), got {testFraction}");
        var step = stride ?? context;
        var testBytes = (int)Math.Round(bytes.Length * testFraction);
        var trainBytes = bytes.Length - testBytes;
        var trainWindows = trainBytes > context ? (trainBytes - context - 1) / step + 1 : 0;
        if (trainWindows < 1)
            throw new SymDslException($"{path}: too short: {trainBytes} of its {bytes.Length} bytes are for training (test_fraction {testFraction}), but one window of context {context} needs {context + 1} bytes");
        var testWindows = testBytes > context ? (testBytes - 1) / context : 0;
        if (testBytes > 0 && testWindows < 1)
            throw new SymDslException($"{path}: too short: its last {testBytes} bytes are the test part (test_fraction {testFraction}), but one test window of context {context} needs {context + 1} bytes; use a longer file, a larger test_fraction or a smaller context");

        var train = TextWindows(bytes.AsSpan(0, trainBytes), context, step, trainWindows);
        var test = TextWindows(bytes.AsSpan(trainBytes), context, context, testWindows);
        var data = new DataSet(Path.GetFileName(path), train, test, Vocabulary.DataSourceDefinitions.ByteVocabulary);
        foreach (var (key, value) in TextStatistics.Bigram(bytes.AsSpan(0, trainBytes), bytes.AsSpan(trainBytes, testWindows == 0 ? 0 : testWindows * context + 1)))
            data.Statistics[key] = value;
        return data;
    }

    static Dictionary<string, Tensor> TextWindows(ReadOnlySpan<byte> part, int context, int step, int windows)
    {
        var tokens = new long[(long)windows * context];
        var next = new long[(long)windows * context];
        for (var w = 0; w < windows; w++)
            for (var t = 0; t < context; t++)
            {
                tokens[(long)w * context + t] = part[w * step + t];
                next[(long)w * context + t] = part[w * step + t + 1];
            }
        return new Dictionary<string, Tensor>
        {
            ["tokens"] = tensor(tokens).reshape(windows, context),
            ["next"] = tensor(next).reshape(windows, context),
        };
    }

    // ------------------------------------------------------------------ synthetic

    static Generator Gen(long seed) => new Generator(unchecked((ulong)(seed * 1_000_003 + 12345)));

    /// <summary>
    /// A fixed random ReLU teacher: x ~ N(0, I), target = W2 relu(W1 x + b1) + b2 + noise·ε with W1 ~ N(0, 1/d_in),
    /// W2 ~ N(0, 1/hidden), b ~ N(0, 0.1²). Fields x [d_in], target [d_out].
    /// </summary>
    public static DataSet Teacher(int dIn, int dOut, int hidden, int samples, double noise, double testFraction, long seed)
    {
        return Split("teacher", TeacherFields(dIn, dOut, hidden, samples, noise, seed), testFraction, seed);
    }

    static Dictionary<string, Tensor> TeacherFields(int dIn, int dOut, int hidden, int samples, double noise, long seed)
    {
        using var scope = NewDisposeScope();
        using var g = Gen(seed);
        var w1 = randn([hidden, dIn], generator: g) / Math.Sqrt(dIn);
        var b1 = randn([hidden], generator: g) * 0.1;
        var w2 = randn([dOut, hidden], generator: g) / Math.Sqrt(hidden);
        var b2 = randn([dOut], generator: g) * 0.1;
        var x = randn([samples, dIn], generator: g);
        var y = nn.functional.linear(nn.functional.relu(nn.functional.linear(x, w1, b1)), w2, b2);
        if (noise > 0) y = y + randn(y.shape, generator: g) * noise;
        return new() { ["x"] = x.MoveToOuterDisposeScope(), ["target"] = y.MoveToOuterDisposeScope() };
    }

    /// <summary>
    /// x ~ N(0, I_d); target = A x + noise·ε, A = U diag(s) Vᵀ with random orthogonal U, V (QR of Gaussian matrices)
    /// and s_i = top·ratio^i for i &lt; rank, 0 beyond. Fields x [d], target [d].
    /// </summary>
    public static DataSet LowRankRegression(int d, int rank, int samples, double top, double ratio, double noise, double testFraction, long seed)
    {
        if (rank < 0 || rank > d) throw new SymDslException($"lowrank_regression: rank must be in 0..{d}, got {rank}");
        return LowRankRegression(d, [.. Enumerable.Range(0, rank).Select(i => top * Math.Pow(ratio, i))], samples, noise, testFraction, seed);
    }

    /// <summary>As above with the singular values given (<see cref="Vocabulary.LowRankSpectrum"/>): rank = spectrum.Length, each positive.</summary>
    public static DataSet LowRankRegression(int d, IReadOnlyList<double> spectrum, int samples, double noise, double testFraction, long seed)
    {
        if (spectrum.Count > d) throw new SymDslException($"lowrank_regression: rank must be in 0..{d}, got {spectrum.Count}");
        foreach (var value in spectrum)
            if (!(value > 0) || !double.IsFinite(value))
                throw new SymDslException($"lowrank_regression: every singular value must be positive and finite, got {value}");
        return Split("lowrank_regression", LowRankFields(d, spectrum, samples, noise, seed), testFraction, seed);
    }

    static Dictionary<string, Tensor> LowRankFields(int d, IReadOnlyList<double> spectrum, int samples, double noise, long seed)
    {
        using var scope = NewDisposeScope();
        using var g = Gen(seed);
        var (u, _) = linalg.qr(randn([d, d], dtype: ScalarType.Float64, generator: g));
        var (v, _) = linalg.qr(randn([d, d], dtype: ScalarType.Float64, generator: g));
        var s = Enumerable.Range(0, d).Select(i => i < spectrum.Count ? spectrum[i] : 0.0).ToArray();
        var a = u.matmul(diag(tensor(s))).matmul(v.t());
        var x = randn([samples, d], dtype: ScalarType.Float64, generator: g);
        var y = x.matmul(a.t());
        if (noise > 0) y = y + randn(y.shape, dtype: ScalarType.Float64, generator: g) * noise;
        var fields = new Dictionary<string, Tensor>
        {
            ["x"] = x.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
            ["target"] = y.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
        };
        return fields;
    }
}
