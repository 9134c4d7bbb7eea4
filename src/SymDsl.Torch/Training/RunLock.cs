using SymDsl.Diagnostics;
using SymDsl.Text;

namespace SymDsl.Torch.Training;

/// <summary>
/// The lock on a run directory (DIR/.lock): one training run at a time writes a directory. It is an OS file lock held
/// through an open <see cref="FileStream"/> with <see cref="FileShare.None"/> (on Linux and macOS .NET takes a
/// <c>flock</c> on it; on Windows the share mode itself), so the kernel releases it when the process ends in any way,
/// SIGKILL included: a killed run never leaves it stuck. The file itself stays (deleting a lock file races with the
/// next run opening it). Two runs in one process exclude each other too (the lock belongs to the open file).
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".lock";
    readonly FileStream _stream;

    RunLock(string directory, FileStream stream) { Directory = directory; _stream = stream; }

    /// <summary>The run directory (full path).</summary>
    public string Directory { get; }

    /// <summary>
    /// Locks <paramref name="dir"/>, creating it unless <paramref name="resume"/> (a resume needs DIR/checkpoint.bin).
    /// Throws a <see cref="SymDslException"/> when another run holds the lock or the directory cannot be written.
    /// </summary>
    public static RunLock Acquire(string dir, bool resume = false)
    {
        var full = Path.GetFullPath(dir);
        if (resume && !File.Exists(Path.Combine(full, Checkpoint.FileName)))
            throw new SymDslException($"nothing to resume: {Path.Combine(full, Checkpoint.FileName)} does not exist");
        var path = Path.Combine(full, FileName);
        try
        {
            System.IO.Directory.CreateDirectory(full);
            return new RunLock(full, new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException e) when (IsLockConflict(e))
        {
            throw new SymDslException($"{full} is in use by another training run (it holds {path}); wait for it to end or train into another --out directory");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new SymDslException($"cannot write to output directory {full}: {e.Message}", e);
        }
    }

    // EWOULDBLOCK from flock (Linux 11, macOS 35); ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION on Windows.
    static bool IsLockConflict(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33 : e.HResult == (OperatingSystem.IsLinux() ? 11 : 35);

    /// <summary>
    /// Deletes the temporaries of atomic writes (<see cref="AtomicFile"/>, <c>.NAME.PID.tmp</c>: checkpoint, metrics, weights, summary) that
    /// killed runs left in the directory. Called under the lock, so no other process is writing them; those of this
    /// process are its own writes in flight and stay.
    /// </summary>
    public void RemoveStaleTemporaries()
    {
        try
        {
            foreach (var file in System.IO.Directory.GetFiles(Directory, ".*.tmp"))
                if (AtomicFile.IsTemporary(file, out var pid) && pid != Environment.ProcessId) File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"cannot write to output directory {Directory}: {e.Message}", e);
        }
    }

    public void Dispose() => _stream.Dispose();
}
