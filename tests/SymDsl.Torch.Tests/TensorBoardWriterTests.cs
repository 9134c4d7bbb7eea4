using SymDsl.Diagnostics;
using SymDsl.Torch.Training;

namespace SymDsl.Torch.Tests;

/// <summary>
/// The TensorBoard writer queues lines for a thread of its own: what it wrote once completed is every line's scalars in
/// order, and a write that failed on that thread is reported on the caller's, as one line naming the directory.
/// </summary>
public class TensorBoardWriterTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-tb-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Completed_writer_holds_every_lines_scalars_in_order_including_the_resumed_ones()
    {
        var dir = TempDir();
        try
        {
            var earlier = new[] { """{"step":1,"epoch":0,"loss":2.5,"lr":0.1}""" };
            using var writer = new TensorBoardWriter(dir, earlier);
            for (var step = 2; step <= 500; step++)
                writer.Add($$"""{"step":{{step}},"epoch":0,"loss":{{1.0 / step}},"lr":0.1,"note":"text","bad":"NaN"}""");
            writer.Complete();
            var scalars = TensorBoardEvents.Read(writer.LogDir);
            Assert.Equal(1000, scalars.Count); // loss and lr of 500 lines; step, epoch and text (NaN is written as a string) are not scalars
            Assert.Equal(new TensorBoardEvents.Scalar("loss", 1, 2.5f), scalars[0]);
            for (var step = 2; step <= 500; step++)
            {
                Assert.Equal(new TensorBoardEvents.Scalar("loss", step, (float)(1.0 / step)), scalars[2 * step - 2]);
                Assert.Equal(new TensorBoardEvents.Scalar("lr", step, 0.1f), scalars[2 * step - 1]);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Flush (a checkpoint's moment) returns once every line queued so far is in the event file; the writer goes on after it.</summary>
    [Fact]
    public void Flush_waits_until_every_queued_line_is_written()
    {
        var dir = TempDir();
        try
        {
            using var writer = new TensorBoardWriter(dir, []);
            for (var round = 1; round <= 3; round++)
            {
                for (var step = 1; step <= 300; step++)
                    writer.Add($$"""{"step":{{(round - 1) * 300 + step}},"epoch":0,"loss":1.0,"lr":0.1}""");
                writer.Flush();
                Assert.Equal(round * 600, TensorBoardEvents.Read(writer.LogDir).Count);
            }
            writer.Complete();
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The event file's stream on Linux's /dev/full: every write fails with "No space left on device".</summary>
    static Stream FullDisk(string eventFile)
    {
        Assert.True(File.Exists("/dev/full"), "these tests need /dev/full (Linux)");
        return new FileStream("/dev/full", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1);
    }

    [Fact]
    public void A_write_that_fails_on_the_writer_thread_is_reported_by_complete_as_one_line_naming_the_directory()
    {
        var dir = TempDir();
        try
        {
            // Every write of the writer thread fails (a full disk).
            var writer = new TensorBoardWriter(dir, [], FullDisk);
            writer.Add("""{"step":1,"epoch":0,"loss":1.0,"lr":0.1}""");
            var e = Assert.Throws<SymDslException>(writer.Complete);
            Assert.StartsWith("cannot write " + writer.LogDir, e.Message);
            writer.Dispose(); // after a failure too: nothing more is thrown, the thread is gone
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void After_a_failed_write_the_next_add_reports_it_and_never_blocks()
    {
        var dir = TempDir();
        try
        {
            using var writer = new TensorBoardWriter(dir, [], FullDisk);
            // More lines than the queue holds: Add must report the failure, not wait for a writer that stopped writing.
            var e = Assert.Throws<SymDslException>(() =>
            {
                for (var step = 1; step <= 4 * TensorBoardWriter.MaxQueued; step++)
                    writer.Add($$"""{"step":{{step}},"epoch":0,"loss":1.0,"lr":0.1}""");
            });
            Assert.StartsWith("cannot write " + writer.LogDir, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
