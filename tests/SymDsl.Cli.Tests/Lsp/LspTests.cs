using System.Diagnostics;
using System.Text.Json;
using Nerdbank.Streams;
using SymDsl.Cli.Lsp;

namespace SymDsl.Cli.Tests.Lsp;

/// <summary><c>symc lsp</c>: scripted LSP sessions, in-process over a stream pair and against the real process over stdio.</summary>
public class LspTests
{
    const string Fixed = """
        model Net(width: int = 16) {
            input x: [8]
            layer fc1 = Linear(8, width)
            layer fc2 = Linear(width, 3)
            h = relu(fc1(x))
            output y = fc2(h)
            symmetry perm : permutation(h)
            symmetry scale : rescale(h)
        }

        train Net {
            data      teacher(d_in = 8, d_out = 3, samples = 64)
            loss      mse(y, target)
            optimizer sgd(lr = 0.05)
            batch     16
            epochs    1
            break     syre(sigma = 0.1) on perm
        }
        """;

    // fc3 is no layer: SYM0210 at its name.
    static readonly string Broken = Fixed.Replace("output y = fc2(h)", "output y = fc3(h)");

    static (string Path, string Uri) WriteModel(string text, string name = "net.sym")
    {
        var path = Path.Combine(Symc.TempDir(), name);
        File.WriteAllText(path, text);
        return (path, new Uri(path).AbsoluteUri);
    }

    static async Task<(LspClient Client, Task<int> Server)> Start()
    {
        var (clientSide, serverSide) = FullDuplexStream.CreatePair();
        var server = SymcLanguageServer.RunAsync(serverSide, serverSide);
        var client = new LspClient(clientSide, clientSide);
        var init = await client.Request("initialize", new { processId = (int?)null, rootUri = (string?)null, capabilities = new { } });
        var caps = init.GetProperty("capabilities");
        Assert.Equal(1, caps.GetProperty("textDocumentSync").GetProperty("change").GetInt32());
        Assert.True(caps.GetProperty("hoverProvider").GetBoolean());
        Assert.True(caps.GetProperty("definitionProvider").GetBoolean());
        Assert.True(caps.GetProperty("documentSymbolProvider").GetBoolean());
        await client.Notify("initialized", new { });
        return (client, server);
    }

    static async Task<int> Stop(LspClient client, Task<int> server)
    {
        var shutdown = await client.Request("shutdown");
        Assert.Equal(JsonValueKind.Null, shutdown.ValueKind);
        await client.Notify("exit");
        return await server.WaitAsync(TimeSpan.FromMinutes(1));
    }

    /// <summary>What <c>symc check --format json</c> prints for the file, as (code, severity, start line, start col, end line, end col, message) with LSP's 0-based positions.</summary>
    static List<string> CheckDiagnostics(string path)
    {
        var check = Symc.Run("check", path, "--format", "json");
        using var json = JsonDocument.Parse(check.Out);
        return json.RootElement.GetProperty("diagnostics").EnumerateArray().Select(d =>
            $"{d.GetProperty("code").GetString()} {(d.GetProperty("level").GetString() switch { "error" => 1, "warning" => 2, _ => 3 })} " +
            $"{d.GetProperty("line").GetInt32() - 1}:{d.GetProperty("column").GetInt32() - 1}-{d.GetProperty("endLine").GetInt32() - 1}:{d.GetProperty("endColumn").GetInt32() - 1} " +
            d.GetProperty("message").GetString()).ToList();
    }

    static List<string> Published(JsonElement publish) => publish.GetProperty("diagnostics").EnumerateArray().Select(d =>
    {
        Assert.Equal("symc", d.GetProperty("source").GetString());
        var r = d.GetProperty("range");
        return $"{d.GetProperty("code").GetString()} {d.GetProperty("severity").GetInt32()} " +
               $"{r.GetProperty("start").GetProperty("line").GetInt32()}:{r.GetProperty("start").GetProperty("character").GetInt32()}-" +
               $"{r.GetProperty("end").GetProperty("line").GetInt32()}:{r.GetProperty("end").GetProperty("character").GetInt32()} " +
               d.GetProperty("message").GetString();
    }).ToList();

    static string HoverAt(JsonElement hover)
    {
        Assert.Equal("markdown", hover.GetProperty("contents").GetProperty("kind").GetString());
        return hover.GetProperty("contents").GetProperty("value").GetString()!;
    }

    static (string Uri, int Line, int Character) LocationOf(JsonElement location)
    {
        var start = location.GetProperty("range").GetProperty("start");
        return (location.GetProperty("uri").GetString()!, start.GetProperty("line").GetInt32(), start.GetProperty("character").GetInt32());
    }

    [Fact]
    public async Task Diagnostics_as_you_type_are_checks_then_an_empty_list_once_fixed()
    {
        var (path, uri) = WriteModel(Broken);
        var (client, server) = await Start();
        await using var _ = client;

        await client.Open(uri, Broken, version: 1);
        var publish = await client.Diagnostics(uri);
        var expected = CheckDiagnostics(path);
        Assert.Contains(expected, d => d.StartsWith("SYM0210 1 5:15-5:18 ", StringComparison.Ordinal)); // fc3, at its name
        Assert.Equal(expected, Published(publish));
        Assert.Equal(1, publish.GetProperty("version").GetInt32());

        // The text in the editor, not the file on disk, is what is checked.
        await client.Change(uri, Fixed, version: 2);
        publish = await client.Diagnostics(uri);
        Assert.Empty(Published(publish));
        Assert.Equal(2, publish.GetProperty("version").GetInt32());

        await client.Change(uri, Broken.Replace("permutation(h)", "permutation(hh)"), version: 3);
        var again = Published(await client.Diagnostics(uri));
        Assert.Contains(again, d => d.StartsWith("SYM0210 1 5:15-5:18 ", StringComparison.Ordinal));
        Assert.True(again.Count >= 2, string.Join("\n", again));

        await client.Notify("textDocument/didClose", new { textDocument = new { uri } });
        Assert.Empty(Published(await client.Diagnostics(uri))); // closing clears the file's diagnostics
        Assert.Equal(0, await Stop(client, server));
    }

    [Fact]
    public async Task Hover_shows_shapes_and_the_symmetries_acting_on_a_site_or_layer()
    {
        var (_, uri) = WriteModel(Fixed);
        var (client, server) = await Start();
        await using var _ = client;
        await client.Open(uri, Fixed);
        Assert.Empty(Published(await client.Diagnostics(uri)));

        var (line, col) = LspClient.Find(Fixed, "fc2(h)");
        var site = HoverAt(await client.At("textDocument/hover", uri, line, col + 4)); // the h in fc2(h)
        Assert.StartsWith("**site** `h`: [16]", site);
        Assert.Contains("`perm : permutation(h)` (declared, inferred, 16 units)", site);
        Assert.Contains("`scale : rescale(h)` (declared, inferred, 16 units)", site);

        (line, col) = LspClient.Find(Fixed, "fc1(x)");
        var layer = HoverAt(await client.At("textDocument/hover", uri, line, col + 1));
        Assert.StartsWith("**layer** `fc1` = Linear", layer);
        Assert.Contains("`fc1.weight`: [16, 8]", layer);
        Assert.Contains("`perm : permutation(h)` (declared, inferred, 16 units) — moves `fc1.weight` axis 0 (forward), `fc1.bias` axis 0 (forward)", layer);

        (line, col) = LspClient.Find(Fixed, "fc2 =");
        layer = HoverAt(await client.At("textDocument/hover", uri, line, col));
        Assert.Contains("`fc2.weight`: [3, 16]", layer);
        Assert.Contains("moves `fc2.weight` axis 1 (inverse)", layer);

        (line, col) = LspClient.Find(Fixed, "on perm");
        var symmetry = HoverAt(await client.At("textDocument/hover", uri, line, col + 3));
        Assert.StartsWith("**symmetry** `perm`", symmetry);
        Assert.Contains("moves `fc1.weight` axis 0 (forward), `fc1.bias` axis 0 (forward), `fc2.weight` axis 1 (inverse)", symmetry);

        (line, col) = LspClient.Find(Fixed, "input x");
        Assert.StartsWith("**input** `x`: [8]", HoverAt(await client.At("textDocument/hover", uri, line, col + 6)));

        // Nothing under the cursor (a keyword): no hover.
        Assert.Equal(JsonValueKind.Null, (await client.At("textDocument/hover", uri, line, 1)).ValueKind);
        Assert.Equal(0, await Stop(client, server));
    }

    [Fact]
    public async Task Definition_and_document_symbols_cover_names_layers_symmetries_and_blocks()
    {
        var (_, uri) = WriteModel(Fixed);
        var (client, server) = await Start();
        await using var _ = client;
        await client.Open(uri, Fixed);
        await client.Diagnostics(uri);

        var (line, col) = LspClient.Find(Fixed, "permutation(h)");
        Assert.Equal((uri, 4, 4), LocationOf(await client.At("textDocument/definition", uri, line, col + 12))); // h → `h = relu(…)`
        (line, col) = LspClient.Find(Fixed, "fc2(h)");
        Assert.Equal((uri, 3, 10), LocationOf(await client.At("textDocument/definition", uri, line, col))); // fc2 → its layer
        (line, col) = LspClient.Find(Fixed, "on perm");
        Assert.Equal((uri, 6, 13), LocationOf(await client.At("textDocument/definition", uri, line, col + 3))); // perm → its symmetry
        (line, col) = LspClient.Find(Fixed, "Linear(8, width)");
        Assert.Equal((uri, 0, 10), LocationOf(await client.At("textDocument/definition", uri, line, col + 10))); // width → the hyper-parameter
        (line, col) = LspClient.Find(Fixed, "train Net");
        Assert.Equal((uri, 0, 6), LocationOf(await client.At("textDocument/definition", uri, line, col + 6))); // the trained model

        var symbols = await client.Request("textDocument/documentSymbol", new { textDocument = new { uri } });
        var top = symbols.EnumerateArray().ToList();
        Assert.Equal(["Net", "Net"], top.Select(s => s.GetProperty("name").GetString()));
        Assert.Equal([5, 24], top.Select(s => s.GetProperty("kind").GetInt32()));
        Assert.Equal(["width", "x", "fc1", "fc2", "h", "y", "perm", "scale"],
            top[0].GetProperty("children").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(0, top[0].GetProperty("range").GetProperty("start").GetProperty("line").GetInt32());
        Assert.Equal(8, top[0].GetProperty("range").GetProperty("end").GetProperty("line").GetInt32());
        Assert.Equal(0, await Stop(client, server));
    }

    [Fact]
    public async Task Names_made_in_for_blocks_and_qualified_block_names_resolve()
    {
        var deep = File.ReadAllText(Paths.Example("for_loop_deep.sym"));
        var (_, uri) = WriteModel(deep, "deep.sym");
        var stream = BlockModels.Stream + """
            train Net {
                data      teacher(d_in = 4, d_out = 3, samples = 64)
                loss      mse(logits, target)
                optimizer sgd(lr = 0.05)
                batch     16
                epochs    1
                break     syre(sigma = 0.1) on blk[1].perm
            }
            """;
        var (_, streamUri) = WriteModel(stream, "stream.sym");
        var (client, server) = await Start();
        await using var _ = client;
        await client.Open(uri, deep);
        Assert.DoesNotContain(Published(await client.Diagnostics(uri)), d => d.Contains(" 1 "));

        var (line, col) = LspClient.Find(deep, "h[i] = leaky_relu");
        var site = HoverAt(await client.At("textDocument/hover", uri, line, col));
        Assert.Contains("- `h[0]`: [64]", site);
        Assert.Contains("- `h[3]`: [64]", site);
        Assert.Contains("`p[1] : permutation(h[0])`", site);
        Assert.Contains("`slast : rescale(h[3])`", site);

        (line, col) = LspClient.Find(deep, "rank(fc[1].weight)");
        Assert.Equal((uri, 4, 10), LocationOf(await client.At("textDocument/definition", uri, line, col + 5))); // fc → `layer fc[0]`, its first declaration
        (line, col) = LspClient.Find(deep, "on p[1]");
        Assert.Equal((uri, 10, 17), LocationOf(await client.At("textDocument/definition", uri, line, col + 3)));
        var symmetry = HoverAt(await client.At("textDocument/hover", uri, line, col + 3));
        Assert.Contains("`p[1] : permutation(h[0])`", symmetry);
        Assert.Contains("`p[3] : permutation(h[2])`", symmetry);
        Assert.Contains("moves `fc[0].weight` axis 0 (forward)", symmetry);
        (line, col) = LspClient.Find(deep, "for i in");
        Assert.StartsWith("**loop variable** `i`", HoverAt(await client.At("textDocument/hover", uri, line, col + 4)));

        await client.Open(streamUri, stream);
        Assert.DoesNotContain(Published(await client.Diagnostics(streamUri)), d => d.Contains(" 1 "));
        (line, col) = LspClient.Find(stream, "blk[1].perm");
        var (permLine, permCol) = LspClient.Find(stream, "perm : permutation(h)");
        Assert.Equal((streamUri, permLine, permCol), LocationOf(await client.At("textDocument/definition", streamUri, line, col + 7))); // perm inside Ffn
        (var blkLine, var blkCol) = LspClient.Find(stream, "layer blk[i]");
        Assert.Equal((streamUri, blkLine, blkCol + 6), LocationOf(await client.At("textDocument/definition", streamUri, line, col)));
        var block = HoverAt(await client.At("textDocument/hover", streamUri, line, col));
        Assert.StartsWith("**layer** `blk` = Ffn (a block)", block);
        Assert.Contains("- `blk[2]`: outputs y: [8]", block);
        Assert.Contains("`blk[2].perm : permutation(blk[2].h)`", block);
        Assert.Equal(0, await Stop(client, server));
    }

    const string Library = """
        model Ffn(d: int, hidden: int = 16) {
            input x: [d]
            layer fc1 = Linear(d, hidden)
            layer fc2 = Linear(hidden, d)
            h = relu(fc1(x))
            output y = fc2(h)
            symmetry perm : permutation(h)
        }
        """;

    const string Main = """
        import "lib/blocks.sym"

        model Net(width: int = 8) {
            input x: [4]
            layer inp = Linear(4, width)
            layer b1 = Ffn(d = width)
            s0 = inp(x)
            s1 = s0 + b1(s0)
            layer out = Linear(width, 3)
            output logits = out(s1)
            symmetry stream : permutation(s1)
        }
        """;

    [Fact]
    public async Task Imports_resolve_relative_to_the_document_and_errors_in_an_imported_file_are_published_there()
    {
        var (path, uri) = WriteModel(Main, "main.sym");
        var lib = Path.Combine(Path.GetDirectoryName(path)!, "lib", "blocks.sym");
        Directory.CreateDirectory(Path.GetDirectoryName(lib)!);
        File.WriteAllText(lib, Library);
        var libUri = new Uri(lib).AbsoluteUri;
        var (client, server) = await Start();
        await using var _ = client;

        await client.Open(uri, Main);
        var clean = Published(await client.Diagnostics(uri));
        Assert.Equal(CheckDiagnostics(path), clean); // warnings only (inferred symmetries of the residual stream left undeclared)
        Assert.All(clean, d => Assert.StartsWith("SYM0403 2 ", d));

        var (line, col) = LspClient.Find(Main, "Ffn(d");
        Assert.Equal((libUri, 0, 6), LocationOf(await client.At("textDocument/definition", uri, line, col))); // the block's model, in its file
        (line, col) = LspClient.Find(Main, "b1(s0)");
        var block = HoverAt(await client.At("textDocument/hover", uri, line, col));
        Assert.StartsWith("**layer** `b1` = Ffn (a block)", block);
        Assert.Contains("`b1.perm : permutation(b1.h)`", block);

        // An error inside the imported file is published for that file, and cleared there once it is gone.
        // (With a default for d the block's model is checked on its own, in its file; else at its use, SYM0249 in main.sym.)
        File.WriteAllText(lib, Library.Replace("fc2(h)", "fc9(h)").Replace("d: int,", "d: int = 8,"));
        await client.Change(uri, Main + "\n", version: 2);
        var inLibrary = Published(await client.Diagnostics(libUri));
        Assert.Contains(inLibrary, d => d.StartsWith("SYM0210 1 5:15-5:18 ", StringComparison.Ordinal));
        Assert.Equal(CheckDiagnostics(path).Where(d => d.StartsWith("SYM0210", StringComparison.Ordinal)), inLibrary.Where(d => d.StartsWith("SYM0210", StringComparison.Ordinal)));
        File.WriteAllText(lib, Library);
        await client.Change(uri, Main, version: 3);
        Assert.Empty(Published(await client.Diagnostics(libUri)));

        // A missing import is an error at the import, with check's code and message.
        var missing = Main.Replace("lib/blocks.sym", "lib/nothing.sym");
        await client.Change(uri, missing, version: 4);
        var published = Published(await client.Diagnostics(uri));
        File.WriteAllText(path, missing);
        Assert.Equal(CheckDiagnostics(path), published);
        Assert.StartsWith("SYM", published[0]);
        Assert.Contains(" 1 0:0-0:", published[0]);
        Assert.Equal(0, await Stop(client, server));
    }

    [Fact]
    public async Task Exit_without_shutdown_ends_the_server_with_exit_code_1()
    {
        var (client, server) = await Start();
        await using var _ = client;
        await client.Notify("exit");
        Assert.Equal(1, await server.WaitAsync(TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task The_symc_lsp_process_serves_a_session_over_stdio()
    {
        var (path, uri) = WriteModel(Broken);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(path)!,
        };
        info.ArgumentList.Add(SymcProcess.Dll);
        info.ArgumentList.Add("lsp");
        info.ArgumentList.Add("--stdio");
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await using var client = new LspClient(process.StandardInput.BaseStream, process.StandardOutput.BaseStream);
            var init = await client.Request("initialize", new { processId = Environment.ProcessId, rootUri = (string?)null, capabilities = new { } });
            Assert.Equal("symc", init.GetProperty("serverInfo").GetProperty("name").GetString());
            await client.Notify("initialized", new { });
            await client.Open(uri, Broken);
            var published = Published(await client.Diagnostics(uri));
            Assert.Equal(CheckDiagnostics(path), published);
            Assert.Contains(published, d => d.StartsWith("SYM0210 1 5:15-5:18 unknown function 'fc3'", StringComparison.Ordinal));

            var (line, col) = LspClient.Find(Broken, "permutation(h)");
            Assert.StartsWith("**site** `h`", HoverAt(await client.At("textDocument/hover", uri, line, col + 12)));
            Assert.Equal(JsonValueKind.Null, (await client.Request("shutdown")).ValueKind);
            await client.Notify("exit");
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "symc lsp did not exit after `exit`");
            Assert.Equal(0, process.ExitCode);
            Assert.Equal("", (await stderr).Trim());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
