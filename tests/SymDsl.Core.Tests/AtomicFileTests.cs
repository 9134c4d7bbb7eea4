using SymDsl.Text;

namespace SymDsl.Core.Tests;

public class AtomicFileTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-tests", "atomic-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Writes_and_replaces_and_leaves_no_temporary()
    {
        var dir = TempDir();
        var path = Path.Combine(dir, "summary.json");
        AtomicFile.WriteAllText(path, "first é");
        Assert.Equal("first é", File.ReadAllText(path));
        Assert.NotEqual(0xEF, File.ReadAllBytes(path)[0]); // UTF-8 without a byte-order mark, like File.WriteAllText
        AtomicFile.WriteAllLines(path, ["a", "b"]);
        Assert.Equal("a\nb\n", File.ReadAllText(path).ReplaceLineEndings("\n"));
        AtomicFile.Write(path, fs => fs.Write([1, 2, 3]));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        AtomicFile.WriteVia(path, tmp => File.WriteAllBytes(tmp, [4, 5]));
        Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(path));
        Assert.Equal(["summary.json"], Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Fact]
    public void The_temporary_is_next_to_the_file_named_after_it_and_this_process()
    {
        var path = Path.Combine(TempDir(), "checkpoint.bin");
        var tmp = AtomicFile.TemporaryPath(path);
        Assert.Equal(Path.GetDirectoryName(path), Path.GetDirectoryName(tmp));
        Assert.Equal($".checkpoint.bin.{Environment.ProcessId}.tmp", Path.GetFileName(tmp));
        Assert.True(AtomicFile.IsTemporary(tmp, out var pid));
        Assert.Equal(Environment.ProcessId, pid);
        string? seen = null;
        AtomicFile.WriteVia(path, t => { seen = t; File.WriteAllText(t, "x"); });
        Assert.Equal(tmp, seen);
    }

    [Theory]
    [InlineData(".metrics.jsonl.123.tmp", true, 123)]
    [InlineData(".run.json.7.tmp", true, 7)]
    [InlineData("run.json.tmp", false, 0)]
    [InlineData(".lock", false, 0)]
    [InlineData(".x.tmp", false, 0)]
    [InlineData(".x.abc.tmp", false, 0)]
    [InlineData("summary.json", false, 0)]
    public void Recognises_its_temporaries(string name, bool expected, int expectedPid)
    {
        Assert.Equal(expected, AtomicFile.IsTemporary(name, out var pid));
        Assert.Equal(expectedPid, pid);
    }

    [Fact]
    public void A_failed_write_keeps_the_old_file_and_removes_the_temporary()
    {
        var dir = TempDir();
        var path = Path.Combine(dir, "weights.dat");
        File.WriteAllText(path, "old");
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, fs =>
        {
            fs.Write([9, 9, 9]);
            throw new IOException("disk full");
        }));
        Assert.Equal("disk full", e.Message);
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["weights.dat"], Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Fact]
    public void A_rename_that_fails_removes_the_temporary()
    {
        var dir = TempDir();
        var path = Path.Combine(dir, "checkpoint.bin");
        Directory.CreateDirectory(path); // a directory where the file must go: the rename fails
        Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(path, "new"));
        Assert.Empty(Directory.GetFiles(dir));
    }
}
