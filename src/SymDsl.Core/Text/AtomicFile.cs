using System.Globalization;
using System.Text;

namespace SymDsl.Text;

/// <summary>
/// The one way SymDsl replaces a file atomically (checkpoints, metrics.jsonl, summary.json, weights.dat, run.json,
/// reports and plots, sweep files, build artifacts): the content is written to a temporary file in the same folder,
/// <c>.NAME.PID.tmp</c> (PID: this process), flushed to disk (fsync), then renamed over NAME. A reader, or a process
/// killed at any point, sees the old file or the new one, never a part. When the write fails the temporary is
/// deleted and the exception (IOException, UnauthorizedAccessException, …) propagates for the caller to report.
/// A process killed mid-write leaves its temporary behind; <see cref="IsTemporary"/> recognises it, so whoever owns
/// the folder (the run lock: RunLock.RemoveStaleTemporaries) can remove it.
/// </summary>
public static class AtomicFile
{
    const string Suffix = ".tmp";

    /// <summary>The temporary this process writes for <paramref name="path"/>: <c>DIR/.NAME.PID.tmp</c>.</summary>
    public static string TemporaryPath(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}{Suffix}");
    }

    /// <summary>Whether <paramref name="fileName"/> (a name or a path) is the temporary of an atomic write (<c>.NAME.PID.tmp</c>), and by which process.</summary>
    public static bool IsTemporary(string fileName, out int processId)
    {
        processId = 0;
        var name = Path.GetFileName(fileName);
        if (name.Length < 2 || name[0] != '.' || !name.EndsWith(Suffix, StringComparison.Ordinal)) return false;
        var stem = name[..^Suffix.Length];
        var dot = stem.LastIndexOf('.');
        return dot > 1 && int.TryParse(stem[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out processId);
    }

    /// <summary>Replaces <paramref name="path"/> with what <paramref name="write"/> writes to the (seekable, readable) stream.</summary>
    public static void Write(string path, Action<FileStream> write) => Replace(path, tmp =>
    {
        using var fs = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        write(fs);
        fs.Flush(flushToDisk: true);
    });

    /// <summary>
    /// Replaces <paramref name="path"/> with the file <paramref name="save"/> writes at the path it is given, for
    /// writers that only take a path (TorchSharp's <c>Module.save</c>, ScottPlot's <c>SavePng</c>).
    /// </summary>
    public static void WriteVia(string path, Action<string> save) => Replace(path, tmp =>
    {
        save(tmp);
        using var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        fs.Flush(flushToDisk: true);
    });

    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> in UTF-8 (no byte-order mark).</summary>
    public static void WriteAllText(string path, string text) => Write(path, fs =>
    {
        using var w = new StreamWriter(fs, Utf8, leaveOpen: true);
        w.Write(text);
    });

    /// <summary>Replaces <paramref name="path"/> with <paramref name="lines"/>, each ended by a newline, in UTF-8 (no byte-order mark).</summary>
    public static void WriteAllLines(string path, IEnumerable<string> lines) => Write(path, fs =>
    {
        using var w = new StreamWriter(fs, Utf8, leaveOpen: true);
        foreach (var line in lines) w.WriteLine(line);
    });

    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    static void Replace(string path, Action<string> writeTemporary)
    {
        var tmp = TemporaryPath(path);
        try
        {
            writeTemporary(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (Exception) { /* best effort: the caller reports the first error */ }
            throw;
        }
    }
}
