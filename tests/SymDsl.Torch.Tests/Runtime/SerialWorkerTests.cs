using SymDsl.Torch.Runtime;

namespace SymDsl.Torch.Tests.Runtime;

public class SerialWorkerTests
{
    [Fact]
    public async Task Runs_posted_work_one_at_a_time_in_order_on_one_thread_that_is_not_the_posters()
    {
        using var worker = new SerialWorker("test worker");
        var order = new List<int>();
        int running = 0, overlapped = 0;
        var threads = new HashSet<int>();
        var tasks = Enumerable.Range(0, 50).Select(i => worker.Post(() =>
        {
            if (Interlocked.Increment(ref running) > 1) Interlocked.Increment(ref overlapped);
            lock (order) { order.Add(i); threads.Add(Environment.CurrentManagedThreadId); }
            Thread.SpinWait(1000);
            Interlocked.Decrement(ref running);
            return i * i;
        })).ToList();
        var results = await Task.WhenAll(tasks);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i * i), results);
        Assert.Equal(Enumerable.Range(0, 50), order);
        Assert.Equal(0, overlapped);
        Assert.Single(threads);
        Assert.DoesNotContain(Environment.CurrentManagedThreadId, threads);
    }

    [Fact]
    public async Task A_failing_item_faults_its_task_only_and_the_next_items_still_run()
    {
        using var worker = new SerialWorker("test worker");
        var failing = worker.Post<int>(() => throw new InvalidOperationException("boom"));
        var next = worker.Post(() => 7);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        Assert.Equal("boom", e.Message);
        Assert.Equal(7, await next);
    }

    [Fact]
    public async Task Stop_lets_queued_work_finish_ends_the_thread_and_a_later_post_starts_a_new_one()
    {
        var worker = new SerialWorker("test worker");
        Thread? first = null;
        var done = Enumerable.Range(0, 5).Select(i => worker.Post(() => { first = Thread.CurrentThread; Thread.Sleep(5); return i; })).ToList();
        worker.Stop();
        Assert.All(done, t => Assert.True(t.IsCompletedSuccessfully)); // Stop waited for every queued item
        Assert.False(first!.IsAlive);
        Thread? second = null;
        Assert.Equal(3, await worker.Post(() => { second = Thread.CurrentThread; return 3; }));
        Assert.NotSame(first, second);
        worker.Dispose();
        Assert.False(second!.IsAlive);
    }

    [Fact]
    public async Task A_worker_asleep_after_its_idle_polls_is_woken_by_a_post()
    {
        using var worker = new SerialWorker("test worker");
        Assert.Equal(1, await worker.Post(() => 1));
        // Past the idle polls (about IdlePolls ms), the worker waits without a timeout: only the post can wake it.
        Thread.Sleep(SerialWorker.IdlePolls * SerialWorker.PollMilliseconds * 3);
        var late = worker.Post(() => 2);
        Assert.Equal(2, await late.WaitAsync(TimeSpan.FromSeconds(10))); // (a TimeoutException: the post did not wake it)
    }
}
