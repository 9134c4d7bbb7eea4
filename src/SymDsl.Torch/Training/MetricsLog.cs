using System.Security.Cryptography;
using System.Text;
using SymDsl.Diagnostics;

namespace SymDsl.Torch.Training;

/// <summary>
/// metrics.jsonl as a checkpoint knows it: the number of lines written so far and the SHA-256 of exactly those lines
/// (each line's UTF-8 bytes followed by one '\n'), kept incrementally as lines are added (no rehash of the history), so
/// that a checkpoint records O(1) bytes about the metrics whatever the run's length (<see cref="CheckpointMeta.MetricsLineCount"/>,
/// <see cref="CheckpointMeta.MetricsSha256"/>).
/// </summary>
public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";
    readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>The number of lines added.</summary>
    public long Count { get; private set; }

    /// <summary>The SHA-256 (hex) of the lines added so far.</summary>
    public string Sha256 => Convert.ToHexString(_hash.GetCurrentHash());

    public void Add(string line)
    {
        _hash.AppendData(Encoding.UTF8.GetBytes(line));
        _hash.AppendData("\n"u8);
        Count++;
    }

    /// <summary>The SHA-256 (hex) of <paramref name="lines"/>, as <see cref="Sha256"/> after adding them.</summary>
    public static string HashOf(IEnumerable<string> lines)
    {
        using var log = new MetricsLog();
        foreach (var line in lines) log.Add(line);
        return log.Sha256;
    }

    /// <summary>
    /// For a resume from <paramref name="checkpointPath"/> (whose metadata is <paramref name="saved"/>): reads the first
    /// <see cref="CheckpointMeta.MetricsLineCount"/> lines of <paramref name="path"/> (lines past them, written after the
    /// checkpoint, are not read), adds them to this (empty) log and returns them. A missing or shorter file, or lines
    /// that do not hash to the checkpoint's <see cref="CheckpointMeta.MetricsSha256"/>, are a one-line
    /// <see cref="SymDslException"/> naming the file; nothing is written.
    /// </summary>
    public List<string> ReadVerified(string path, string checkpointPath, CheckpointMeta saved)
    {
        if (Count != 0) throw new InvalidOperationException("ReadVerified needs an empty log");
        var expected = saved.MetricsLineCount;
        var lines = new List<string>();
        string Cannot(string why) => $"cannot resume from {checkpointPath}: {why}; it must hold the {expected} lines written up to the checkpoint (step {saved.Step}): train anew without --resume";
        if (expected > 0 && !File.Exists(path)) throw new SymDslException(Cannot($"{path} does not exist"));
        if (expected > 0)
        {
            try
            {
                foreach (var line in File.ReadLines(path))
                {
                    if (lines.Count == expected) break;
                    lines.Add(line);
                    Add(line);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new SymDslException($"cannot read {path}: {e.Message}", e);
            }
        }
        if (lines.Count < expected) throw new SymDslException(Cannot($"{path} has {lines.Count} lines, fewer than the checkpoint recorded (cut short or replaced?)"));
        if (Sha256 != saved.MetricsSha256) throw new SymDslException(Cannot($"the first {expected} lines of {path} differ from those the checkpoint recorded (SHA-256; edited or replaced?)"));
        return lines;
    }

    public void Dispose() => _hash.Dispose();
}
