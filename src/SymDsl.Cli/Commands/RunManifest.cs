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
