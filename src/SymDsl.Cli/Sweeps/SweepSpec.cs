using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SymDsl.Diagnostics;
using SymDsl.Torch.Training;

namespace SymDsl.Cli.Sweeps;

/// <summary>One hyper-parameter of the grid and its values, in the order given on the command line.</summary>
public sealed record SweepAxis(string Name, IReadOnlyList<string> Values);

/// <summary>
/// One cell of a sweep: one value per axis and one seed. Its run directory is <c>DIR/NAME=V,NAME=V/seed-S</c>
/// (<see cref="Name"/>), stable across re-runs, so a re-run finds the cell's earlier work.
/// </summary>
public sealed record SweepCell(int Index, IReadOnlyList<KeyValuePair<string, string>> Values, long Seed)
{
    /// <summary>The cell's directory relative to the sweep directory, e.g. <c>width=32,lr=0.1/seed-1</c> (<c>seed-1</c> without axes).</summary>
    public string Name => Values.Count == 0
        ? $"seed-{Seed.ToString(CultureInfo.InvariantCulture)}"
        : string.Join(",", Values.Select(kv => $"{kv.Key}={SweepSpec.PathSafe(kv.Value)}")) + $"/seed-{Seed.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// What a sweep is: the model file, the fixed overrides, the grid, the seeds and the run length. Written to
/// DIR/sweep.json so that a re-run and <c>symc sweep --collect DIR</c> know every cell.
/// </summary>
public sealed class SweepSpec
{
    public const string FileName = "sweep.json";
    public const int FormatVersion = 1;

    public int Format { get; init; } = FormatVersion;
    /// <summary>The .sym file (full path).</summary>
    public required string Source { get; init; }
    /// <summary>Overrides with one value: passed to every cell, not part of a cell's name.</summary>
    public required SortedDictionary<string, string> Fixed { get; init; }
    public required List<SweepAxis> Axes { get; init; }
    public required List<long> Seeds { get; init; }
    public int? Epochs { get; init; }
    public int? Steps { get; init; }
    public int? CheckpointEvery { get; init; }
    /// <summary>libtorch threads per cell (every cell, locally and on Slurm, so that their results agree).</summary>
    public int Threads { get; init; } = 1;
    public string? Train { get; init; }

    /// <summary>The cartesian product of the axes (first axis slowest) × seeds (fastest).</summary>
    public IReadOnlyList<SweepCell> Cells()
    {
        var combos = new List<List<KeyValuePair<string, string>>> { new() };
        foreach (var axis in Axes)
            combos = combos.SelectMany(c => axis.Values.Select(v => new List<KeyValuePair<string, string>>(c) { new(axis.Name, v) })).ToList();
        var cells = new List<SweepCell>();
        foreach (var combo in combos)
            foreach (var seed in Seeds)
                cells.Add(new SweepCell(cells.Count, combo, seed));
        return cells;
    }

    /// <summary>The arguments of <c>symc train</c> for <paramref name="cell"/> into <paramref name="cellDir"/> (without --resume).</summary>
    public List<string> TrainArguments(SweepCell cell, string cellDir)
    {
        var args = new List<string> { "train", Source, "--out", cellDir, "--seed", cell.Seed.ToString(CultureInfo.InvariantCulture) };
        foreach (var (k, v) in Fixed) { args.Add("--set"); args.Add($"{k}={v}"); }
        foreach (var (k, v) in cell.Values) { args.Add("--set"); args.Add($"{k}={v}"); }
        if (Steps is { } s) { args.Add("--steps"); args.Add(s.ToString(CultureInfo.InvariantCulture)); }
        if (Epochs is { } e) { args.Add("--epochs"); args.Add(e.ToString(CultureInfo.InvariantCulture)); }
        if (CheckpointEvery is { } c) { args.Add("--checkpoint-every"); args.Add(c.ToString(CultureInfo.InvariantCulture)); }
        if (Train is { } t) { args.Add("--train"); args.Add(t); }
        args.Add("--threads"); args.Add(Threads.ToString(CultureInfo.InvariantCulture));
        return args;
    }

    /// <summary>
    /// "width=8,16" → an axis; "width=8" → a fixed override. The same name twice, an empty value or a value repeated in
    /// one axis is bad usage (the message says which).
    /// </summary>
    public static (SortedDictionary<string, string> Fixed, List<SweepAxis> Axes) ParseSets(IEnumerable<string> sets)
    {
        var fixedValues = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var axes = new List<SweepAxis>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var set in sets)
        {
            int eq = set.IndexOf('=');
            if (eq <= 0) throw new SymDslException($"--set expects NAME=V1,V2,…, got '{set}'");
            var name = set[..eq].Trim();
            if (!seen.Add(name)) throw new SymDslException($"--set {name} is given twice; list its values in one --set {name}=V1,V2,…");
            var values = set[(eq + 1)..].Split(',').Select(v => v.Trim()).ToList();
            if (values.Any(v => v.Length == 0)) throw new SymDslException($"--set {name} has an empty value in '{set}'");
            if (values.Distinct(StringComparer.Ordinal).Count() != values.Count) throw new SymDslException($"--set {name} lists a value twice in '{set}'");
            var safe = values.Select(PathSafe).ToList();
            if (safe.Distinct(StringComparer.Ordinal).Count() != safe.Count)
                throw new SymDslException($"--set {name}: values '{string.Join("', '", values)}' give the same cell directory name");
            if (values.Count == 1) fixedValues[name] = values[0];
            else axes.Add(new SweepAxis(name, values));
        }
        return (fixedValues, axes);
    }

    /// <summary>A value as it appears in a directory name: letters, digits and <c>. + - _</c> kept, anything else as <c>_</c>.</summary>
    public static string PathSafe(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var c in value) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '-' or '_' ? c : '_');
        return sb.ToString();
    }

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>DIR/sweep.json with the spec and, for reading by other tools, every cell's directory.</summary>
    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        var node = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        node["cells"] = new System.Text.Json.Nodes.JsonArray(Cells().Select(c => (System.Text.Json.Nodes.JsonNode?)c.Name).ToArray());
        Reports.WriteAtomically(Path.Combine(dir, FileName), node.ToJsonString(Json) + "\n");
    }

    /// <summary>The spec in DIR/sweep.json; a clear error when it is missing or not a sweep file.</summary>
    public static SweepSpec Read(string dir)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) throw new SymDslException($"{path} does not exist: {dir} is not a sweep directory (symc sweep FILE … --out {dir} writes it)");
        try
        {
            var spec = JsonSerializer.Deserialize<SweepSpec>(File.ReadAllText(path), Json)
                ?? throw new SymDslException($"{path} is empty");
            if (spec.Format != FormatVersion) throw new SymDslException($"{path} has format {spec.Format}; this symc reads format {FormatVersion}");
            return spec;
        }
        catch (JsonException e)
        {
            throw new SymDslException($"{path} is not a sweep file: {e.Message}");
        }
        catch (IOException e)
        {
            throw new SymDslException($"cannot read {path}: {e.Message}");
        }
    }

    /// <summary>
    /// Why an existing sweep in the same directory cannot be continued by this one (null when it can): cells of
    /// another file, length or fixed overrides would mix incomparable runs (and their checkpoints would not resume).
    /// </summary>
    public string? ConflictWith(SweepSpec old)
    {
        var diffs = new List<string>();
        if (old.Source != Source) diffs.Add($"file {old.Source} vs {Source}");
        if (old.Steps != Steps) diffs.Add($"--steps {old.Steps?.ToString() ?? "-"} vs {Steps?.ToString() ?? "-"}");
        if (old.Epochs != Epochs) diffs.Add($"--epochs {old.Epochs?.ToString() ?? "-"} vs {Epochs?.ToString() ?? "-"}");
        if (old.Threads != Threads) diffs.Add($"--threads {old.Threads} vs {Threads}");
        if (old.Train != Train) diffs.Add($"--train {old.Train ?? "-"} vs {Train ?? "-"}");
        if (!old.Fixed.SequenceEqual(Fixed)) diffs.Add($"fixed --set {Show(old.Fixed)} vs {Show(Fixed)}");
        return diffs.Count == 0 ? null : string.Join("; ", diffs);
        static string Show(SortedDictionary<string, string> d) => d.Count == 0 ? "(none)" : string.Join(" ", d.Select(kv => $"{kv.Key}={kv.Value}"));
    }
}
