using System.Text.Json;
using System.Threading.Channels;
using StreamJsonRpc;

namespace SymDsl.Cli.Tests.Lsp;

/// <summary>
/// A scripted LSP client for the tests: JSON-RPC with Content-Length headers over a pair of streams, results and
/// notifications kept as raw JSON (what goes over the wire, not the server's own types).
/// </summary>
internal sealed class LspClient : IAsyncDisposable
{
    readonly JsonRpc rpc;
    readonly Channel<JsonElement> published = Channel.CreateUnbounded<JsonElement>();
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public LspClient(Stream toServer, Stream fromServer)
    {
        rpc = new JsonRpc(new HeaderDelimitedMessageHandler(toServer, fromServer, new SystemTextJsonFormatter()));
        rpc.AddLocalRpcTarget(new Target(published), new JsonRpcTargetOptions { UseSingleObjectParameterDeserialization = true });
        rpc.StartListening();
    }

    sealed class Target(Channel<JsonElement> published)
    {
        [JsonRpcMethod("textDocument/publishDiagnostics")]
        public void Publish(JsonElement parameters) => published.Writer.TryWrite(parameters.Clone());
    }

    public async Task<JsonElement> Request(string method, object? parameters = null)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        return await rpc.InvokeWithParameterObjectAsync<JsonElement>(method, parameters, timeout.Token);
    }

    public Task Notify(string method, object? parameters = null) => rpc.NotifyWithParameterObjectAsync(method, parameters);

    /// <summary>The next textDocument/publishDiagnostics for <paramref name="uri"/> (others are skipped).</summary>
    public async Task<JsonElement> Diagnostics(string uri)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        while (true)
        {
            var p = await published.Reader.ReadAsync(timeout.Token);
            if (p.GetProperty("uri").GetString() == uri) return p;
        }
    }

    public Task Open(string uri, string text, int version = 1)
        => Notify("textDocument/didOpen", new { textDocument = new { uri, languageId = "sym", version, text } });

    public Task Change(string uri, string text, int version)
        => Notify("textDocument/didChange", new { textDocument = new { uri, version }, contentChanges = new[] { new { text } } });

    public Task<JsonElement> At(string method, string uri, int line, int character)
        => Request(method, new { textDocument = new { uri }, position = new { line, character } });

    public ValueTask DisposeAsync()
    {
        rpc.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>0-based line and character of the <paramref name="occurrence"/>-th (0-based) <paramref name="needle"/> in <paramref name="text"/>.</summary>
    public static (int Line, int Character) Find(string text, string needle, int occurrence = 0)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int from = 0;
            while (true)
            {
                var at = lines[i].IndexOf(needle, from, StringComparison.Ordinal);
                if (at < 0) break;
                if (occurrence-- == 0) return (i, at);
                from = at + 1;
            }
        }
        throw new InvalidOperationException($"'{needle}' not found");
    }
}
