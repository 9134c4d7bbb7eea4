using System.Runtime.InteropServices;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// <see cref="DeferredMetrics"/>: metrics an observer hands over late. The run's files are those of the same values given
/// synchronously; training goes on while values are pending; checkpoints include them (and a resume is exact); a failed
/// value stops the run with the error the synchronous path gives.
/// </summary>
[Collection("torch")]
public class DeferredMetricsTests
{
    /// <summary>30 steps (23 per epoch), a line every 4 steps and at the epoch ends, checkpoints every 10 steps.</summary>
    static TrainIR Train() => MlpTrain(steps: 30, logEvery: 4, checkpointEvery: 10, syre: false);

    static bool Checkpointed(long step) => step % 10 == 0 || step == 30;

    [Fact]
    public void Values_that_complete_late_give_the_files_of_synchronous_ones()
    {
        var train = Train();
        var sync = TempDir("sync");
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(sync), observers: [new ValuesObserver(deferred: false, Checkpointed)]);
        var late = TempDir("late");
        var observer = new ValuesObserver(deferred: true, Checkpointed);
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(late), observers: [observer]);

        // Every step's values were still pending at the next step: the trainer went on without them (had it waited at the
        // step itself for values that complete two steps later, the watchdog would have failed them).
        Assert.True(observer.MostPending >= 2, $"at most {observer.MostPending} pending");
        Assert.Contains("\"probe_loss\":", File.ReadAllText(Path.Combine(sync, MetricsLog.FileName)));
        Assert.Equal(RunOutputTests.Outputs(sync), RunOutputTests.Outputs(late));
        var (a, b) = (Checkpoint.Read(Path.Combine(sync, Checkpoint.FileName)), Checkpoint.Read(Path.Combine(late, Checkpoint.FileName)));
        Assert.Equal((a.MetricsLineCount, a.MetricsSha256), (b.MetricsLineCount, b.MetricsSha256));
    }

    [Fact]
    public void A_checkpoint_at_a_step_with_pending_values_includes_them_and_a_resume_is_exact()
    {
        var train = Train();
        var program = Program(Mlp(8), train);
        var full = TempDir("full");
        var fullResult = Trainer.Run(program, train, new TrainOptions(full), observers: [new ValuesObserver(deferred: true, Checkpointed)]);

        // Interrupted after step 15 (no periodic checkpoint there): its values and step 14's are pending when the
        // interrupt's checkpoint is written.
        var part = TempDir("part");
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Run(program, train, new TrainOptions(part),
            p => { if (p.Step == 15) cts.Cancel(); }, cts.Token, [new ValuesObserver(deferred: true, s => Checkpointed(s) || s == 15)]));
        var fullLines = File.ReadAllLines(Path.Combine(full, MetricsLog.FileName));
        var upTo15 = fullLines.Where(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt64() <= 15).ToList();
        Assert.Contains(upTo15, l => l.StartsWith("{\"step\":15,", StringComparison.Ordinal));
        Assert.Equal(upTo15, File.ReadAllLines(Path.Combine(part, MetricsLog.FileName)));
        var meta = Checkpoint.Read(Path.Combine(part, Checkpoint.FileName));
        Assert.Equal(15, meta.Step);
        Assert.Equal(upTo15.Count, meta.MetricsLineCount);
        Assert.Equal(MetricsLog.HashOf(upTo15), meta.MetricsSha256);

        var resumed = Trainer.Run(program, train, new TrainOptions(part, Resume: true), observers: [new ValuesObserver(deferred: true, Checkpointed)]);
        Assert.Equal(fullLines, File.ReadAllLines(Path.Combine(part, MetricsLog.FileName)));
        Assert.Equal(fullResult.TrainLoss, resumed.TrainLoss);
        Assert.Equal(fullResult.TestLoss, resumed.TestLoss);
        using var m1 = new SymModel(Mlp(8), Trainer.Reparametrisations(train));
        using var m2 = new SymModel(Mlp(8), Trainer.Reparametrisations(train));
        Checkpoint.Load(Path.Combine(full, Checkpoint.FileName), m1, null);
        Checkpoint.Load(Path.Combine(part, Checkpoint.FileName), m2, null);
        foreach (var (k, t) in m1.state_dict()) Assert.True(t.shape.SequenceEqual(m2.state_dict()[k].shape) && t.eq(m2.state_dict()[k]).all().item<bool>(), k);
    }

    [Fact]
    public void At_most_MaxPending_lines_wait_for_their_values()
    {
        // Each step's values complete 12 steps later (more than MaxPending), or, when training has stopped to wait for them
        // (no step for 200 ms), the oldest is completed by another thread. Without the bound, up to 12 would be pending at
        // once (fewer only when steps take over 200 ms).
        var train = MlpTrain(steps: 30, logEvery: 4, checkpointEvery: null, syre: false);
        var sync = TempDir("bound-sync");
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(sync), observers: [new ValuesObserver(deferred: false, s => s == 30)]);
        var slow = TempDir("bound-slow");
        var observer = new ValuesObserver(deferred: true, s => s == 30, lateBy: 12);
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(slow), observers: [observer]);
        Assert.InRange(observer.MostPending, 0, MetricsLogWriter.MaxPending);
        Assert.Equal(RunOutputTests.Outputs(sync), RunOutputTests.Outputs(slow));
    }

    [Fact]
    public void Steps_without_background_values_do_not_count_towards_the_bound()
    {
        // A metric every 5 steps whose values complete 30 steps later: 6 steps with values pending at once, under the bound,
        // with up to 30 steps queued behind the oldest. Training must not wait for them before the end of the run (a bound
        // counting every step would make it wait at step 8; the observer then completes the oldest itself after 200 ms and
        // records the step it was stuck at).
        var train = MlpTrain(steps: 60, logEvery: 4, checkpointEvery: null, syre: false);
        var observer = new SparseObserver(every: 5, lateBy: 30);
        Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(TempDir("sparse")), observers: [observer]);
        Assert.Equal(6, observer.MostPending);
        Assert.All(observer.StuckAt, s => Assert.Equal(60, s));
    }

    /// <summary>Deferred values at every <c>every</c>-th step, completed <c>lateBy</c> steps later or when training has waited 200 ms.</summary>
    sealed class SparseObserver(int every, int lateBy) : ITrainingObserver
    {
        readonly List<(long Step, TaskCompletionSource<IReadOnlyList<KeyValuePair<string, object?>>> Values)> _waiting = new();
        long _step, _lastTick = Environment.TickCount64;
        Task? _rescuer;
        public int MostPending { get; private set; }
        public List<long> StuckAt { get; } = new();

        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            lock (_waiting)
            {
                _step = step;
                _lastTick = Environment.TickCount64;
                foreach (var w in _waiting.Where(w => w.Step <= step - lateBy)) w.Values.TrySetResult([new("sparse", (double)w.Step)]);
                _waiting.RemoveAll(w => w.Step <= step - lateBy);
                if (step % every == 0)
                {
                    var tcs = new TaskCompletionSource<IReadOnlyList<KeyValuePair<string, object?>>>(TaskCreationOptions.RunContinuationsAsynchronously);
                    metrics["background"] = new DeferredMetrics(tcs.Task);
                    _waiting.Add((step, tcs));
                    MostPending = Math.Max(MostPending, _waiting.Count);
                }
                _rescuer ??= Task.Run(Rescue);
            }
        }

        void Rescue()
        {
            while (true)
            {
                Thread.Sleep(50);
                lock (_waiting)
                {
                    var idle = Environment.TickCount64 - _lastTick;
                    if (_waiting.Count == 0 && idle > 5_000) return;
                    if (idle < 200 || _waiting.Count == 0) continue;
                    StuckAt.Add(_step);
                    _waiting[0].Values.TrySetResult([new("sparse", (double)_waiting[0].Step)]);
                    _waiting.RemoveAt(0);
                    _lastTick = Environment.TickCount64;
                }
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_failed_value_stops_the_run_with_the_synchronous_error(bool libtorch)
    {
        var train = Train();
        Exception Failure() => libtorch ? new ExternalException("a libtorch error") : new SymDslException("the probe failed at step 7");
        var sync = TempDir("fail-sync");
        var es = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(sync),
            observers: [new ValuesObserver(deferred: false, Checkpointed, failAt: 7, Failure)]));
        var late = TempDir("fail-late");
        var el = Assert.Throws<SymDslException>(() => Trainer.Run(Program(Mlp(8), train), train, new TrainOptions(late),
            observers: [new ValuesObserver(deferred: true, Checkpointed, failAt: 7, Failure)]));
        Assert.Equal(es.Message, el.Message);
        Assert.Contains(libtorch ? "libtorch failed at step 7" : "the probe failed at step 7", el.Message);
        // The lines before the failed step were written, as synchronously; none after it.
        Assert.Equal(File.ReadAllText(Path.Combine(sync, MetricsLog.FileName)), File.ReadAllText(Path.Combine(late, MetricsLog.FileName)));
        Assert.False(File.Exists(Path.Combine(late, Trainer.SummaryFileName)));
    }

    /// <summary>
    /// At each step: the probe loss and half the step (none at steps 2, 6, 10, …), then the step under "after". Given
    /// synchronously, or (<paramref name="deferred"/>) as one <see cref="DeferredMetrics"/> in their place, computed at
    /// the step but completed <paramref name="lateBy"/> (2) steps later, or, for the steps whose line must be written before the next two (a
    /// checkpoint or the end: <paramref name="boundary"/>), by another thread shortly after. A value still pending after
    /// a minute fails (the trainer must not wait for it at its own step). With <paramref name="lateBy"/> &gt; 2, values
    /// complete that many steps later, or, the oldest first, when no step has come for 200 ms (the trainer waits for it).
    /// </summary>
    sealed class ValuesObserver(bool deferred, Func<long, bool> boundary, long failAt = -1, Func<Exception>? failure = null, int lateBy = 2) : ITrainingObserver
    {
        readonly List<(long Step, TaskCompletionSource<IReadOnlyList<KeyValuePair<string, object?>>> Values, List<KeyValuePair<string, object?>> Result)> _waiting = new();
        public int MostPending { get; private set; }

        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            var values = new List<KeyValuePair<string, object?>>();
            if (step % 4 != 2)
            {
                using var _ = no_grad();
                values.Add(new("probe_loss", context.Loss(context.ProbeBatch).item<float>()));
                values.Add(new("half", step / 2.0));
            }
            if (!deferred)
            {
                if (step == failAt) throw failure!();
                foreach (var (k, v) in values) metrics[k] = v;
            }
            else
            {
                var tcs = new TaskCompletionSource<IReadOnlyList<KeyValuePair<string, object?>>>(TaskCreationOptions.RunContinuationsAsynchronously);
                metrics["background"] = new DeferredMetrics(tcs.Task);
                _ = Task.Delay(TimeSpan.FromMinutes(1)).ContinueWith(_ => tcs.TrySetException(new InvalidOperationException($"step {step}'s values were awaited before they could complete")));
                lock (_waiting)
                {
                    MostPending = Math.Max(MostPending, _waiting.Count(w => !w.Values.Task.IsCompleted));
                    _waiting.Add((step, tcs, values));
                    foreach (var w in _waiting.Where(w => w.Step <= step - lateBy)) Complete(w);
                    _waiting.RemoveAll(w => w.Step <= step - lateBy);
                    _lastStep = Environment.TickCount64;
                    if (lateBy > 2 && _rescuer is null) _rescuer = Task.Run(Rescue);
                }
                if (boundary(step))
                    _ = Task.Run(() =>
                    {
                        Thread.Sleep(20);
                        lock (_waiting)
                        {
                            foreach (var w in _waiting.Where(w => w.Step <= step)) Complete(w);
                            _waiting.RemoveAll(w => w.Step <= step);
                        }
                    });
            }
            if (step % 4 != 2) metrics["after"] = step;
        }

        long _lastStep;
        Task? _rescuer;

        /// <summary>When no step has come for 200 ms (the trainer waits), completes the oldest pending value.</summary>
        void Rescue()
        {
            while (true)
            {
                Thread.Sleep(50);
                lock (_waiting)
                {
                    var idle = Environment.TickCount64 - _lastStep;
                    if (_waiting.Count == 0 && idle > 10_000) return; // the run has ended (or failed)
                    if (idle < 200 || _waiting.Count == 0) continue;
                    Complete(_waiting[0]);
                    _waiting.RemoveAt(0);
                    _lastStep = Environment.TickCount64;
                }
            }
        }

        void Complete((long Step, TaskCompletionSource<IReadOnlyList<KeyValuePair<string, object?>>> Values, List<KeyValuePair<string, object?>> Result) w)
        {
            if (w.Step == failAt) w.Values.TrySetException(failure!());
            else w.Values.TrySetResult(w.Result);
        }
    }
}
