using System.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Training;

namespace SymDsl.Bench;

/// <summary>
/// Two whole training loops (Trainer.Run, everything a user's run does per step: batch, step, observers, logging,
/// per-epoch test evaluation) timed against each other window by window. Both runs live at once, each on a thread of
/// its own, but only one runs at any time: a baton passes between them in the progress callback, at window boundaries,
/// in ABBA order (A's window j, B's window j, B's window j + 1, A's window j + 1, …). A and B thus train the same
/// steps side by side, minutes of load drift fall on both alike, and each ABBA block is one pair of
/// <see cref="PairedRatio"/>. The runs are long (<see cref="MaxSteps"/>) and are cancelled once the stop rule is met.
/// <para>
/// Windows are <c>windowSteps</c> steps starting at its multiples (steps 10k … 10k+9 for windows of 10; the first
/// window's boundary is after step 9): work done every 10 steps (diagnostics after step 10k) falls once into every window,
/// at its first step. Metrics an observer computes in the background (<see cref="DeferredMetrics"/>) are awaited before
/// a window ends and counted in it, so background work never runs into the other side's window. That is conservative:
/// it may overlap the nine steps after its own in its window, where a lone run gives it the ten steps to the next
/// evaluation and more (the diagnostics worker may fall up to three evaluations behind).
/// </para>
/// </summary>
public static class InterleavedRuns
{
    /// <summary>The step count the runs are given; they are cancelled long before (a stop rule's budget).</summary>
    public const int MaxSteps = 1_000_000;

    /// <summary><see cref="Ratio"/>: wall-clock windows (the result); <see cref="Cpu"/>: the same windows in process CPU time.</summary>
    public sealed record Result(PairedRatio Ratio, PairedRatio Cpu, string StoppedBy, double Seconds, long StepsPerSide);

    /// <summary>
    /// Runs <paramref name="a"/> against <paramref name="b"/> until <paramref name="stop"/> says so. The observer
    /// factories make each side's observers (called once, on that side's thread, before its run; the caller
    /// disposes them, after reading what they measured).
    /// <paramref name="warmupBlocks"/> ABBA blocks after the first window are not counted (JIT, allocator, caches).
    /// <paramref name="pinCore"/>: both loops' threads are pinned to this core (<see cref="CoreAffinity"/>; null: not pinned).
    /// </summary>
    public static Result Compare(ProgramIR program, TrainIR a, Func<IReadOnlyList<ITrainingObserver>> observersA,
        TrainIR b, Func<IReadOnlyList<ITrainingObserver>> observersB, StopRule stop, int windowSteps = 10, int warmupBlocks = 2,
        int? pinCore = null)
    {
        var ratio = new PairedRatio(windowSteps);
        var cpu = new PairedRatio(windowSteps);
        var cpuBlock = new double[4];
        var turn = new[] { new SemaphoreSlim(0), new SemaphoreSlim(0) };
        using var cancel = new CancellationTokenSource();
        var errors = new Exception?[2];
        var steps = new long[2];
        int offset = windowSteps - 1; // a window ends after step 10k+9: the next starts with the step whose periodic work it carries
        int segment = 0; // segments completed: 0 and 1 are the two sides' set-up and first steps, then windows in ABBA order
        var block = new double[4];
        var clock = Stopwatch.StartNew(); // the budget counts set-up and warm-up too
        string? stoppedBy = null;
        bool stopped = false;

        // Who runs segment s: side 0 then side 1 (set-up), then A B B A A B B A …
        static int Owner(int s) => s < 2 ? s : (s - 2) % 4 is 0 or 3 ? 0 : 1;

        void Side(int i)
        {
            var train = i == 0 ? a : b;
            if (pinCore is int core) CoreAffinity.PinCurrentThread(core);
            turn[i].Wait();
            var observers = (i == 0 ? observersA : observersB)();
            var draining = observers.Select(o => new Draining(o)).ToList();
            string dir = Path.Combine(Path.GetTempPath(), "symdsl-bench", Guid.NewGuid().ToString("N"));
            long nextBoundary = offset;
            long windowStart = Stopwatch.GetTimestamp();
            double cpuStart = CpuClock.Seconds();
            try
            {
                Trainer.Run(program, train, new TrainOptions(dir, Steps: MaxSteps), p =>
                {
                    steps[i] = p.Step;
                    if (p.Step < nextBoundary) return;
                    while (nextBoundary <= p.Step) nextBoundary += windowSteps; // (robust to a progress callback that skips steps)
                    foreach (var d in draining) d.Drain();
                    double seconds = Stopwatch.GetElapsedTime(windowStart).TotalSeconds;
                    double cpuSeconds = CpuClock.Seconds() - cpuStart;
                    // The baton is ours: the shared state below is touched by one thread at a time.
                    if (segment >= 2)
                    {
                        int k = (segment - 2) % 4;
                        block[k] = seconds;
                        cpuBlock[k] = cpuSeconds;
                        if (k == 3 && (segment - 2) / 4 >= warmupBlocks)
                        {
                            ratio.Add(block[0], block[1], block[2], block[3]);
                            cpu.Add(cpuBlock[0], cpuBlock[1], cpuBlock[2], cpuBlock[3]);
                            stoppedBy = stop.Check(ratio, clock.Elapsed.TotalSeconds);
                        }
                    }
                    segment++;
                    if (stoppedBy is not null)
                    {
                        // Stop: this run unwinds first (cancelled at its next step); the other is let go after it (finally).
                        stopped = true;
                        cancel.Cancel();
                        return;
                    }
                    if (Owner(segment) != i)
                    {
                        turn[1 - i].Release();
                        // The other side runs while this one waits here, in its progress callback, outside any of the
                        // trainer's native sections (NativeSection): a run parked inside one would block the other's
                        // no-GC region renewal for ever. A wait this long means that happened: fail, do not hang.
                        if (!turn[i].Wait(TimeSpan.FromMinutes(10)))
                            throw new InvalidOperationException("the other run did not hand the baton back within 10 minutes (is Trainer's progress callback still called outside NativeSection?)");
                    }
                    windowStart = Stopwatch.GetTimestamp();
                    cpuStart = CpuClock.Seconds();
                }, cancel.Token, draining);
                throw new InvalidOperationException($"the run stopped after {MaxSteps} steps without a stop rule's verdict");
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
            catch (Exception e) { errors[i] = e; }
            finally
            {
                cancel.Cancel();
                turn[1 - i].Release(); // the other side may go on (or unwind, once cancelled)
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }

        var threads = new[] { new Thread(() => Side(0)), new Thread(() => Side(1)) };
        foreach (var t in threads) { t.IsBackground = true; t.Start(); }
        turn[0].Release();
        foreach (var t in threads) t.Join();
        foreach (var s in turn) s.Dispose();
        if (errors.FirstOrDefault(e => e is not null) is { } error) throw new InvalidOperationException("an interleaved run failed: " + error.Message, error);
        if (!stopped) throw new InvalidOperationException("the interleaved runs ended without a verdict");
        return new Result(ratio, cpu, stoppedBy!, clock.Elapsed.TotalSeconds, Math.Min(steps[0], steps[1]));
    }

    /// <summary>
    /// A <see cref="SessionRatio"/>: runs sessions (<paramref name="session"/>, given its own stop rule: <paramref name="sessionSeconds"/> of budget, at
    /// least <paramref name="minPairs"/> pairs) until at least <paramref name="minSessions"/> have run and the interval is
    /// within <paramref name="rule"/>'s target, or its budget is spent (with at least <paramref name="minSessions"/>; a hard
    /// cap at twice the budget). <paramref name="stoppedBy"/>: "interval" or "budget".
    /// </summary>
    public static SessionRatio Sessions(Func<StopRule, Result> session, int windowSteps, StopRule rule,
        double sessionSeconds, int minSessions, int minPairs, out string stoppedBy, out double seconds, out long stepsPerSide)
    {
        var result = new SessionRatio(windowSteps);
        var sessionRule = new StopRule(minPairs, rule.MaxPairs, rule.TargetHalfWidth / 2, sessionSeconds);
        var clock = Stopwatch.StartNew();
        stepsPerSide = 0;
        while (true)
        {
            var r = session(sessionRule);
            result.Add(r.Ratio, r.Cpu);
            stepsPerSide += r.StepsPerSide;
            double elapsed = clock.Elapsed.TotalSeconds;
            string? stop = SessionRatio.Stop(result.Sessions, result.RelativeHalfWidth, elapsed, rule, minSessions);
            if (stop is not null)
            {
                stoppedBy = stop;
                seconds = elapsed;
                return result;
            }
        }
    }

    /// <summary>
    /// Forwards every call to an observer and remembers the background metrics (<see cref="DeferredMetrics"/>) it hands
    /// the trainer, so that a window can wait for them before it ends.
    /// </summary>
    sealed class Draining(ITrainingObserver inner) : ITrainingObserver
    {
        readonly List<Task> _pending = new();

        public void Drain()
        {
            foreach (var t in _pending) t.Wait();
            _pending.Clear();
        }

        public void OnStart(TrainingContext context) => inner.OnStart(context);
        public void OnBeforeStep(TrainingContext context, long step, IReadOnlyDictionary<string, TorchSharp.torch.Tensor> batch) => inner.OnBeforeStep(context, step, batch);
        public void OnGradients(TrainingContext context, long step) => inner.OnGradients(context, step);
        public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics)
        {
            inner.OnStep(context, step, metrics);
            // (the diagnostics' key looked up, not every value enumerated: this runs on every step of the measured side)
            if (metrics.TryGetValue(SymmetryDiagnostics.DeferredKey, out var v) && v is DeferredMetrics d) _pending.Add(d.Values);
        }
        public void OnEnd(TrainingContext context, TrainSummary summary) => inner.OnEnd(context, summary);
    }
}
