namespace SymDsl.Cli.Tests;

/// <summary><c>symc check</c> and <c>symc build</c> on a file that imports its blocks from another file.</summary>
public class ImportTests
{
    const string Library = """
        model Ffn(d: int, hidden: int = 16) {
            input x: [d]
            layer ln = LayerNorm(d)
            layer fc1 = Linear(d, hidden)
            layer fc2 = Linear(hidden, d)
            h = relu(fc1(ln(x)))
            output y = fc2(h)
            symmetry perm : permutation(h)
            symmetry scale : rescale(h)
        }
        """;

    const string Main = """
        import "lib/blocks.sym"

        model Net(width: int = 8) {
            input x: [4]
            layer inp = Linear(4, width)
            layer b1 = Ffn(d = width)
            layer b2 = Ffn(d = width, hidden = 8)
            s0 = inp(x)
            s1 = s0 + b1(s0)
            s2 = s1 + b2(s1)
            layer out = Linear(width, 3)
            output logits = out(s2)
            symmetry stream : permutation(s2)
            symmetry shrink : scale(s2)
        }
        """;

    static string Write(string main, string library)
    {
        var dir = Symc.TempDir();
        Directory.CreateDirectory(Path.Combine(dir, "lib"));
        File.WriteAllText(Path.Combine(dir, "lib", "blocks.sym"), library);
        File.WriteAllText(Path.Combine(dir, "main.sym"), main);
        return Path.Combine(dir, "main.sym");
    }

    [Fact]
    public void Check_verifies_and_build_emits_a_file_with_imported_blocks()
    {
        var main = Write(Main, Library);
        var check = Symc.Run("check", main, "--verify");
        Assert.True(check.ExitCode == 0, check.All);
        Assert.Contains("verified  stream : permutation(s2)", check.All);
        Assert.Contains("verified  b2.perm : permutation(b2.h)", check.All);

        var dir = Symc.TempDir();
        var build = Symc.Run("build", main, "--out", dir);
        Assert.True(build.ExitCode == 0, build.All);
        var cs = File.ReadAllText(Path.Combine(dir, "Net.g.cs"));
        Assert.Contains("public sealed class Ffn : nn.Module<Tensor, Tensor>", cs);
        Assert.Contains("public sealed class Ffn_2 : nn.Module<Tensor, Tensor>", cs);
        Assert.Contains("private readonly Ffn b1;", cs);
        var ir = File.ReadAllText(Path.Combine(dir, "program.ir.json"));
        Assert.Contains("\"b2.fc1.weight\"", ir);
        Assert.Contains("\"instance\": \"b1\"", ir);
        Assert.Contains("b1.perm", File.ReadAllText(Path.Combine(dir, "symmetry-report.md")));
    }

    [Fact]
    public void Errors_in_an_imported_file_and_at_imports_are_reported_with_their_file_line_and_column()
    {
        var main = Write(Main.Replace("import \"lib/blocks.sym\"", "import \"lib/blocks.sym\"\nimport \"lib/missing.sym\""),
            Library.Replace("relu(fc1(ln(x)))", "relu(fc1(ln(x)) + 1)").Replace("d: int,", "d: int = 8,"));
        var r = Symc.Run("check", main);
        Assert.Equal(1, r.ExitCode);
        Symc.AssertNoStackTrace(r);
        Assert.Contains($"{Path.Combine(Path.GetDirectoryName(main)!, "lib", "blocks.sym")}:6:27: error SYM0217", r.Err);
        // Each use of the broken block says so, quoting the block's error.
        Assert.Contains($"{main}:7:16: error SYM0249: block 'b1' = Ffn(d = 8, hidden = 16) does not check", r.Err);
        Assert.Contains($"{main}:2:1: error SYM0246: cannot import \"lib/missing.sym\"", r.Err);
    }
}
