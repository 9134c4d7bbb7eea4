using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.Text;

namespace SymDsl.Cli.Commands;

/// <summary>
/// RUN/run.json: what a run was made from (the .sym file, the overrides, the train block, the seed), so that later
/// commands (<c>symc compare</c>) can rebuild the same model without being told again.
/// </summary>
internal sealed record RunManifest(string Source, Dictionary<string, string> Overrides, string Model, long? Seed)
{
    /// <summary>The name of the train block the run trained (<see cref="SymDsl.IR.TrainIR.Name"/>); null in runs from before block names.</summary>
    public string? Train { get; init; }

    /// <summary>The weights file the run started from (<c>symc train --init-from</c>, full path); null when it started from its seed's initialisation.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? InitFrom { get; init; }

    /// <summary>Set in runs written by a command from other runs (<c>symc align</c>, <c>merge</c>, <c>canon</c>; <see cref="DerivedRun"/>); null in trained runs.</summary>
    public DerivedFrom? DerivedFrom { get; init; }

    public const string FileName = "run.json";

    public void Write(string runDir)
    {
        string path = Path.Combine(runDir, FileName);
        try
        {
            Directory.CreateDirectory(runDir);
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw SymDsl.Torch.Training.Reports.CannotWrite(path, e);
        }
    }

    /// <summary>
    /// The run's model and train block, rebuilt from its source and overrides; a source that no longer checks is a
    /// <see cref="SymDslException"/> quoting its first error.
    /// </summary>
    public (SymDsl.IR.ModelIR Model, SymDsl.IR.TrainIR Train) Rebuild()
    {
        var compilation = Compiler.CompileFile(Source, new CompileOptions(Overrides));
        if (compilation.HasErrors || compilation.Program is null)
            throw new SymDslException($"{Source} no longer checks: {compilation.Diagnostics.First(d => d.Level == DiagnosticLevel.Error)}");
        var program = compilation.Program;
        var train = Train is { } name ? program.Train(name) : program.Trains.First(t => t.Model == Model);
        return (program.Model(Model), train);
    }

    /// <summary>
    /// Refuses two runs that are not of one model: the same source, model and overrides (what <paramref name="command"/>
    /// — compare, align, merge — needs to read both runs' weights with one IR).
    /// </summary>
    public void RequireSameModel(RunManifest other, string command)
    {
        if (Source != other.Source || Model != other.Model || !Overrides.OrderBy(k => k.Key).SequenceEqual(other.Overrides.OrderBy(k => k.Key)))
            throw new SymDslException($"the runs are of different models ({Model} from {Source} vs {other.Model} from {other.Source}); {command} runs of one model and one set of overrides");
    }

    public static RunManifest Read(string runDir)
    {
        string path = Path.Combine(runDir, FileName);
        if (!Directory.Exists(runDir)) throw new SymDslException($"run directory '{runDir}' does not exist");
        if (!File.Exists(path)) throw new SymDslException($"'{runDir}' is not a symc run directory (no {FileName}); train into it with `symc train FILE --out {runDir}`");
        try
        {
            return JsonSerializer.Deserialize<RunManifest>(File.ReadAllText(path), Json)
                ?? throw new SymDslException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new SymDslException($"{path}:{e.LineNumber + 1}: malformed run manifest: {e.Message}");
        }
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
