using System.Buffers.Binary;
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
/// The events are written on a thread of their own, in line order, one event per line holding all its scalars (a
/// summary with several values, as TensorFlow's merged summaries are), to the event file TorchSharp's SummaryWriter made,
/// kept open and flushed after every line. TorchSharp's <c>add_scalar</c> checks for, opens, seeks, writes, flushes and
/// closes that file for every scalar (0.107), 50–100 µs each here: a line of diagnostics (a dozen scalars) cost as much
/// as several training steps, first on the training thread, then on this one, which shares the cores (and, in
/// bench/run, the training loop's pinned core) with it. The framing is TorchSharp's own (TFRecord: length, masked
/// CRC-32C of it, the Event, masked CRC-32C of that; its <c>CRC32C</c>); there is no public call that writes a prepared
/// event. The training thread only queues the line. <see cref="Complete"/> (the end of the run) waits until every queued line is written; a write
/// that failed is reported, as one line naming the directory, by the next <see cref="Add"/> or by <see cref="Complete"/>.
/// A run that stops without <see cref="Complete"/> (a crash, SIGKILL) may lose the last lines' events: a resume rebuilds
/// tensorboard/ from the checkpoint's metrics lines anyway.
/// </para>
/// </summary>
sealed class TensorBoardWriter : IDisposable
{
    /// <summary>Lines that may wait for the writer thread before <see cref="Add"/> waits for it (back-pressure).</summary>
    public const int MaxQueued = 4096;

    readonly Stream _events;
    readonly BlockingCollection<string> _queue = new(MaxQueued);
    readonly Thread _thread;
    volatile Exception? _failure;
    readonly object _done = new();
    long _added;   // lines queued (training thread)
    long _written; // lines the writer thread has taken off the queue, written or (after a failure) drained; under _done
    bool _completed;

    /// <summary>
    /// A new tensorboard/ holding the scalars of <paramref name="lines"/> (the metrics so far: none for a new run, the
    /// checkpoint's after a resume), so that no step is missing or appears twice however often a run is resumed.
    /// </summary>
    public TensorBoardWriter(string outDir, IReadOnlyList<string> lines) : this(outDir, lines, null) { }

    /// <summary><paramref name="openEvents"/>: opens the event file for appending (tests: a stream whose writes fail).</summary>
    internal TensorBoardWriter(string outDir, IReadOnlyList<string> lines, Func<string, Stream>? openEvents)
    {
        LogDir = Path.Combine(outDir, "tensorboard");
        try
        {
            if (Directory.Exists(LogDir)) Directory.Delete(LogDir, recursive: true);
            // The writer makes the directory and the event file with its header (the file version), and nothing else.
            var writer = torch.utils.tensorboard.SummaryWriter(LogDir, "", false);
            var file = Directory.GetFiles(writer.LogDir, "events.out.tfevents.*") switch
            {
                [var single] => single,
                var found => throw new IOException($"expected one event file from TorchSharp's SummaryWriter, found {found.Length}"),
            };
            _events = openEvents?.Invoke(file) ?? new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.Read);
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
        _added++;
        _queue.Add(line);
    }

    /// <summary>
    /// Waits until every line queued so far is written (a checkpoint's moment: tensorboard/ then holds exactly the lines
    /// metrics.jsonl has); a failed write is one line naming the directory.
    /// </summary>
    public void Flush()
    {
        lock (_done)
            while (_written < _added && _thread.IsAlive) Monitor.Wait(_done, 1000);
        ThrowIfFailed();
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
        _events.Dispose();
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
            if (_failure is null)
            {
                // (after a failure: drained, not written: Add never blocks on a dead writer)
                try { AddScalars(line); }
                catch (Exception e) { _failure = e; } // reported on the training thread, by the next Add or by Complete
            }
            lock (_done) { _written++; Monitor.PulseAll(_done); }
        }
    }

    /// <summary>The finite numbers of one metrics.jsonl line, but step and epoch, as TensorBoard scalars at its step: one event.</summary>
    void AddScalars(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var step = doc.RootElement.GetProperty("step").GetInt64();
        var summary = new Tensorboard.Summary();
        foreach (var p in doc.RootElement.EnumerateObject())
            if (p.Name is not ("step" or "epoch") && p.Value.ValueKind == JsonValueKind.Number && p.Value.GetDouble() is var d && double.IsFinite(d))
                summary.Value.Add(new Tensorboard.Summary.Types.Value { Tag = p.Name, SimpleValue = (float)d });
        if (summary.Value.Count == 0) return;
        // (step and wall time as SummaryWriter.add_scalar writes them: the step as an int, the time in whole seconds)
        var ev = new Tensorboard.Event { Step = (int)step, WallTime = DateTimeOffset.Now.ToUnixTimeSeconds(), Summary = summary };
        var data = Google.Protobuf.MessageExtensions.ToByteArray(ev);
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteInt64LittleEndian(header, data.LongLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Masked(TorchSharp.Utils.CRC32C.process(data.LongLength)));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Masked(TorchSharp.Utils.CRC32C.process(data)));
        _events.Write(header);
        _events.Write(data);
        _events.Write(footer);
        _events.Flush();
    }

    static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
