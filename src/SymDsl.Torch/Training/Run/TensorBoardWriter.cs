using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using SymDsl.Diagnostics;
using TorchSharp;

namespace SymDsl.Torch.Training;

/// <summary>
/// DIR/tensorboard/ (TorchSharp's SummaryWriter): the numbers of every metrics.jsonl line, fed by
/// <see cref="MetricsLogWriter"/> as it writes each line, so TensorBoard holds exactly metrics.jsonl's scalars.
/// <para>
/// The events are written on a thread of their own, in line order: TorchSharp's <c>add_scalar</c> opens, seeks, writes,
/// flushes and closes the event file for every scalar (0.107), about 20–40 µs each here, so a line of diagnostics (a dozen
/// scalars) written on the training thread cost as much as several training steps (bench/README.md). The training thread
/// only queues the line. <see cref="Complete"/> (the end of the run) waits until every queued line is written; a write
/// that failed is reported, as one line naming the directory, by the next <see cref="Add"/> or by <see cref="Complete"/>.
/// A run that stops without <see cref="Complete"/> (a crash, SIGKILL) may lose the last lines' events: a resume rebuilds
/// tensorboard/ from the checkpoint's metrics lines anyway.
/// </para>
/// </summary>
sealed class TensorBoardWriter : IDisposable
{
    /// <summary>Lines that may wait for the writer thread before <see cref="Add"/> waits for it (back-pressure).</summary>
    public const int MaxQueued = 4096;

    readonly TorchSharp.Modules.SummaryWriter _writer;
    readonly BlockingCollection<string> _queue = new(MaxQueued);
    readonly Thread _thread;
    volatile Exception? _failure;
    bool _completed;

    /// <summary>
    /// A new tensorboard/ holding the scalars of <paramref name="lines"/> (the metrics so far: none for a new run, the
    /// checkpoint's after a resume), so that no step is missing or appears twice however often a run is resumed.
    /// </summary>
    public TensorBoardWriter(string outDir, IReadOnlyList<string> lines)
    {
        LogDir = Path.Combine(outDir, "tensorboard");
        try
        {
            if (Directory.Exists(LogDir)) Directory.Delete(LogDir, recursive: true);
            _writer = torch.utils.tensorboard.SummaryWriter(LogDir, "", false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"cannot write {LogDir}: {e.Message}", e);
        }
        _thread = new Thread(WriteQueued) { IsBackground = true, Name = "SymDsl TensorBoard" };
        _thread.Start();
        foreach (var line in lines) Add(line);
    }

    public string LogDir { get; }

    /// <summary>Queues one metrics.jsonl line; an earlier failed write is one line naming the directory.</summary>
    public void Add(string line)
    {
        ThrowIfFailed();
        _queue.Add(line);
    }

    /// <summary>Writes every queued line, then stops the writer thread; a failed write is one line naming the directory.</summary>
    public void Complete()
    {
        Stop();
        ThrowIfFailed();
    }

    public void Dispose()
    {
        Stop();
        _queue.Dispose();
    }

    void Stop()
    {
        if (_completed) return;
        _completed = true;
        _queue.CompleteAdding();
        _thread.Join();
    }

    void ThrowIfFailed()
    {
        if (_failure is not { } e) return;
        if (e is IOException or UnauthorizedAccessException) throw Reports.CannotWrite(LogDir, e);
        ExceptionDispatchInfo.Throw(e);
    }

    /// <summary>The writer thread: the queued lines in order until the queue is completed; after a failed write, the rest is drained unwritten.</summary>
    void WriteQueued()
    {
        foreach (var line in _queue.GetConsumingEnumerable())
        {
            if (_failure is not null) continue; // after a failure: drained, not written (Add never blocks on a dead writer)
            try { AddScalars(line); }
            catch (Exception e) { _failure = e; } // reported on the training thread, by the next Add or by Complete
        }
    }

    /// <summary>The finite numbers of one metrics.jsonl line, but step and epoch, as TensorBoard scalars at its step.</summary>
    void AddScalars(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var step = doc.RootElement.GetProperty("step").GetInt64();
        foreach (var p in doc.RootElement.EnumerateObject())
            if (p.Name is not ("step" or "epoch") && p.Value.ValueKind == JsonValueKind.Number && p.Value.GetDouble() is var d && double.IsFinite(d))
                _writer.add_scalar(p.Name, (float)d, (int)step);
    }
}
