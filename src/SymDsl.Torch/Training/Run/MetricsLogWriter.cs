using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using SymDsl.Text;

namespace SymDsl.Torch.Training;

/// <summary>
/// DIR/metrics.jsonl, one JSON line per step that has something to say: every <c>log</c> steps, at each epoch end, the
/// last step, and whenever an observer added keys. Each line is also added to the run's <see cref="MetricsLog"/> (the
/// count and SHA-256 a checkpoint records), to <see cref="Lines"/> (the report's plots) and to TensorBoard, in that order.
/// <para>
/// Background metrics: an observer may put a <see cref="DeferredMetrics"/> under any key of a step's metrics. The step's
/// line then waits (training goes on) until its values are computed; the entry is replaced, in place, by the keys and
/// values it yields, and lines are written strictly in step order (a later step's line waits for an earlier one's). At
/// most <see cref="MaxPending"/> steps with background values wait (the steps queued behind them cost a small dictionary
/// each and are not counted, so a metric computed every k steps may fall up to MaxPending·k steps behind): the step that
/// would add one more blocks until the oldest is written.
/// <see cref="ResolveAll"/> (before every checkpoint and at the end of the run) waits for every pending value, so a
/// checkpoint's line count and hash always include them. A value that failed is the error its observer's
/// <see cref="ITrainingObserver.OnStep"/> would have thrown synchronously (a libtorch failure: the run's one-line
/// libtorch/divergence error at that step).
/// </para>
/// Called outside the steps' no-GC sections (<see cref="Runtime.NativeSection"/>): waiting there for a background
/// computation that needs a section of its own could deadlock.
/// </summary>
sealed class MetricsLogWriter : ITrainingObserver, IDisposable
{
    /// <summary>The most steps with background values that may wait for them before training waits.</summary>
    public const int MaxPending = 8;

    static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    readonly RunSetup _run;
    readonly TensorBoardWriter _tensorBoard;
    readonly Func<ExternalException, long, Exception> _torchFailed;
    readonly StreamWriter _writer;
    readonly Queue<Pending> _pending = new();
    int _deferredSteps; // entries of _pending that hold a DeferredMetrics

    /// <summary>A step's metrics waiting for background values; <see cref="Logged"/>: a line is due whatever the observers add.</summary>
    sealed record Pending(long Step, bool Logged, List<KeyValuePair<string, object?>> Entries)
    {
        public bool Deferred { get; } = Entries.Exists(kv => kv.Value is DeferredMetrics);
    }

    /// <summary>
    /// Restarts DIR/metrics.jsonl from the run's lines so far (<see cref="RunSetup.Lines"/>: the checkpoint's on a resume,
    /// lines past it dropped), atomically, and opens it for appending. <paramref name="torchFailed"/> turns a libtorch
    /// failure of a background value at a step into the run's error for it.
    /// </summary>
    public MetricsLogWriter(RunSetup run, TensorBoardWriter tensorBoard, Func<ExternalException, long, Exception> torchFailed)
    {
        _run = run;
        _tensorBoard = tensorBoard;
        _torchFailed = torchFailed;
        Writing(() => AtomicFile.WriteAllLines(run.MetricsPath, run.Lines));
        _writer = new StreamWriter(run.MetricsPath, append: true);
    }

    /// <summary>Every line of the run's metrics.jsonl written so far (with the checkpoint's on a resume).</summary>
    public IReadOnlyList<string> Lines => _run.Lines;

    /// <summary>Steps whose background values are not yet written (the bound <see cref="MaxPending"/> applies to these).</summary>
    public int PendingCount => _deferredSteps;

    /// <summary>The keys every step's metrics start with: step, epoch, loss, lr.</summary>
    public static Dictionary<string, object?> StepMetrics(long step, int epoch, double loss, double lr)
        => new() { ["step"] = step, ["epoch"] = epoch, ["loss"] = loss, ["lr"] = lr };

    const int StepKeyCount = 4;

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
    {
        var epochEnd = step % _run.StepsPerEpoch == 0 || step == _run.TotalSteps;
        var pending = new Pending(step, step % _run.LogEvery == 0 || epochEnd, metrics.ToList());
        _pending.Enqueue(pending);
        if (pending.Deferred) _deferredSteps++;
        WriteCompleted(wait: false);
        while (_deferredSteps > MaxPending) WriteNext();
    }

    /// <summary>Waits for every pending background value and writes their lines (before a checkpoint, at the end).</summary>
    public void ResolveAll() => WriteCompleted(wait: true);

    /// <summary>Writes every pending line and flushes metrics.jsonl to disk (before a checkpoint records its count and hash), and waits until tensorboard/ holds them too.</summary>
    public void FlushToDisk()
    {
        ResolveAll();
        Writing(() =>
        {
            _writer.Flush();
            if (_writer.BaseStream is FileStream fs) fs.Flush(flushToDisk: true);
        });
        _tensorBoard.Flush(); // tensorboard/ holds the same lines (its own writer thread queues behind)
    }

    /// <summary>At the end of the run: every pending line written, the file flushed.</summary>
    public void Finish()
    {
        ResolveAll();
        Writing(_writer.Flush);
        _tensorBoard.Complete();
    }

    /// <summary>
    /// When the run fails (divergence, an error, an interrupt): waits for the pending values and writes their lines in
    /// order, as the synchronous path would have before the failure, up to the first value that failed; throws nothing
    /// (the run's own failure is the one reported). Lines past the last checkpoint are dropped by a resume, as always.
    /// </summary>
    public void Abandon()
    {
        try
        {
            while (_pending.TryPeek(out var next))
            {
                foreach (var (_, v) in next.Entries)
                    if (v is DeferredMetrics d)
                    {
                        try { d.Values.Wait(); }
                        catch (AggregateException) { }
                        if (!d.Values.IsCompletedSuccessfully) { ClearPending(); return; }
                    }
                WriteNext();
            }
        }
        catch (Exception)
        {
            ClearPending(); // e.g. the disk is full: the run's own error says so
        }
        finally
        {
            try { _writer.Flush(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    void ClearPending()
    {
        _pending.Clear();
        _deferredSteps = 0;
    }

    void WriteCompleted(bool wait)
    {
        while (_pending.TryPeek(out var next) && (wait || next.Entries.All(kv => kv.Value is not DeferredMetrics d || d.Values.IsCompleted)))
            WriteNext();
    }

    /// <summary>Resolves the oldest pending step's values (waiting when needed) and writes its line if it has one.</summary>
    void WriteNext()
    {
        var next = _pending.Peek();
        var metrics = new Dictionary<string, object?>();
        foreach (var (key, value) in next.Entries)
        {
            if (value is DeferredMetrics deferred)
                foreach (var (k, v) in Resolve(deferred, next.Step)) metrics[k] = v;
            else
                metrics[key] = value;
        }
        _pending.Dequeue();
        if (next.Deferred) _deferredSteps--;
        if (next.Logged || metrics.Count > StepKeyCount) Write(JsonSerializer.Serialize(metrics, Json));
    }

    IReadOnlyList<KeyValuePair<string, object?>> Resolve(DeferredMetrics deferred, long step)
    {
        try
        {
            return deferred.Values.GetAwaiter().GetResult(); // the observer's own exception, not an AggregateException
        }
        catch (ExternalException torchError)
        {
            ClearPending();
            throw _torchFailed(torchError, step);
        }
        catch
        {
            ClearPending();
            throw;
        }
    }

    void Write(string line)
    {
        _run.Lines.Add(line);
        _run.Log.Add(line);
        Writing(() => { _writer.WriteLine(line); _writer.Flush(); });
        _tensorBoard.Add(line);
    }

    /// <summary>Runs a write to metrics.jsonl; an I/O failure becomes one line naming the file.</summary>
    void Writing(Action write)
    {
        try { write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Reports.CannotWrite(_run.MetricsPath, e);
        }
    }

    public void Dispose() => _writer.Dispose();
}
