using System.Text.Json;
using System.Text.Json.Serialization;
using StreamJsonRpc;
using SymDsl.Diagnostics;
using SymDsl.Semantics;
using SymDsl.Text;

namespace SymDsl.Cli.Lsp;

/// <summary>
/// <c>symc lsp</c>: a Language Server Protocol server over a pair of streams (stdin/stdout), JSON-RPC with LSP's
/// <c>Content-Length</c> headers (StreamJsonRpc's <see cref="HeaderDelimitedMessageHandler"/>). Each open document is compiled
/// from its in-memory text on open and on every change (full sync) and its diagnostics published — the same codes, ranges and
/// messages as <c>symc check</c>; <c>import</c>s resolve relative to the document's path. Hover, go to definition and the
/// document outline read the last compilation (<see cref="SymbolIndex"/> and the checked IR).
/// </summary>
public sealed class SymcLanguageServer
{
    /// <summary>LSP's JSON: camelCase names, absent optional members left out.</summary>
    public static JsonSerializerOptions SerializerOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    sealed class Document(string uri, string path)
    {
        public string Uri { get; } = uri;
        public string Path { get; } = path;
        public int Version { get; set; } = int.MinValue;
        public Compilation? Compilation { get; set; }
        public SymbolIndex? Index { get; set; }
        /// <summary>Other files (imported ones) this document's last compilation published diagnostics for.</summary>
        public HashSet<string> OtherUris { get; set; } = [];
    }

    readonly SemaphoreSlim gate = new(1, 1);
    readonly Dictionary<string, Document> documents = [];
    readonly TaskCompletionSource<int> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CompileOptions options;
    JsonRpc? rpc;
    volatile bool shutdownRequested;

    SymcLanguageServer(CompileOptions options) => this.options = options;

    /// <summary>
    /// Serves one client until it sends <c>exit</c> or closes its stream. Returns the exit code LSP asks for: 0 after
    /// <c>shutdown</c> then <c>exit</c>, 1 when the client exits (or goes away) without <c>shutdown</c>.
    /// </summary>
    public static async Task<int> RunAsync(Stream input, Stream output, CompileOptions? options = null, CancellationToken cancel = default)
    {
        var server = new SymcLanguageServer(options ?? new CompileOptions());
        var formatter = new SystemTextJsonFormatter { JsonSerializerOptions = SerializerOptions };
        using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(output, input, formatter));
        rpc.AddLocalRpcTarget(server, new JsonRpcTargetOptions { UseSingleObjectParameterDeserialization = true });
        server.rpc = rpc;
        rpc.StartListening();
        var cancelled = Task.Delay(Timeout.Infinite, cancel);
        var done = await Task.WhenAny(rpc.Completion, server.exited.Task, cancelled).ConfigureAwait(false);
        if (done == server.exited.Task) return await server.exited.Task.ConfigureAwait(false);
        if (done == cancelled) return ExitCodes.Interrupted;
        return server.shutdownRequested ? ExitCodes.Ok : ExitCodes.InputError;
    }

    // ------------------------------------------------------------------ lifecycle

    [JsonRpcMethod("initialize")]
    public InitializeResult Initialize(JsonElement parameters = default)
        => new(new ServerCapabilities(new TextDocumentSyncOptions(OpenClose: true, Change: 1), HoverProvider: true, DefinitionProvider: true, DocumentSymbolProvider: true),
               new ServerInfo("symc", typeof(SymcLanguageServer).Assembly.GetName().Version?.ToString(3)));

    [JsonRpcMethod("initialized")]
    public void Initialized(JsonElement parameters = default) { }

    [JsonRpcMethod("shutdown")]
    public object? Shutdown()
    {
        shutdownRequested = true;
        return null;
    }

    [JsonRpcMethod("exit")]
    public void Exit() => exited.TrySetResult(shutdownRequested ? ExitCodes.Ok : ExitCodes.InputError);

    // ------------------------------------------------------------------ documents

    [JsonRpcMethod("textDocument/didOpen")]
    public Task DidOpen(DidOpenTextDocumentParams parameters)
        => Update(parameters.TextDocument.Uri, parameters.TextDocument.Version, parameters.TextDocument.Text);

    [JsonRpcMethod("textDocument/didChange")]
    public Task DidChange(DidChangeTextDocumentParams parameters)
    {
        // Full sync: the last change holds the whole text.
        if (parameters.ContentChanges.Count == 0) return Task.CompletedTask;
        return Update(parameters.TextDocument.Uri, parameters.TextDocument.Version, parameters.ContentChanges[^1].Text);
    }

    [JsonRpcMethod("textDocument/didClose")]
    public async Task DidClose(DidCloseTextDocumentParams parameters)
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!documents.Remove(parameters.TextDocument.Uri, out var doc)) return;
            foreach (var uri in doc.OtherUris.Prepend(doc.Uri)) await Publish(uri, [], null).ConfigureAwait(false);
        }
        finally { gate.Release(); }
    }

    async Task Update(string uri, int? version, string text)
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!documents.TryGetValue(uri, out var doc)) documents[uri] = doc = new Document(uri, PathOf(uri));
            if (version is { } v && v < doc.Version) return; // an older text than the one compiled already
            doc.Version = version ?? doc.Version;
            var compilation = Compiler.CompileText(doc.Path, text, options);
            doc.Compilation = compilation;
            doc.Index = compilation.Syntax is { } syntax ? SymbolIndex.Build(syntax) : null;

            var byFile = compilation.Diagnostics.GroupBy(d => d.Span.IsNone || d.Span.File == doc.Path ? doc.Uri : UriOf(d.Span.File))
                .ToDictionary(g => g.Key, g => g.Select(ToLsp).ToList());
            await Publish(doc.Uri, byFile.GetValueOrDefault(doc.Uri) ?? [], version).ConfigureAwait(false);
            var others = byFile.Keys.Where(k => k != doc.Uri).ToHashSet();
            foreach (var other in others) await Publish(other, byFile[other], null).ConfigureAwait(false);
            foreach (var stale in doc.OtherUris.Except(others)) await Publish(stale, [], null).ConfigureAwait(false);
            doc.OtherUris = others;
        }
        finally { gate.Release(); }
    }

    Task Publish(string uri, IReadOnlyList<LspDiagnostic> diagnostics, int? version)
        => rpc!.NotifyWithParameterObjectAsync("textDocument/publishDiagnostics", new PublishDiagnosticsParams(uri, diagnostics, version));

    static LspDiagnostic ToLsp(Diagnostic d)
        => new(RangeOf(d.Span), d.Level switch { DiagnosticLevel.Error => 1, DiagnosticLevel.Warning => 2, _ => 3 }, d.Code, "symc", d.Message);

    // ------------------------------------------------------------------ navigation

    [JsonRpcMethod("textDocument/hover")]
    public async Task<Hover?> Hover(TextDocumentPositionParams parameters)
    {
        var (doc, symbol) = await Lookup(parameters).ConfigureAwait(false);
        return symbol is null ? null : new Hover(new MarkupContent("markdown", HoverText.For(symbol, doc!.Compilation?.Checked)));
    }

    [JsonRpcMethod("textDocument/definition")]
    public async Task<Location?> Definition(TextDocumentPositionParams parameters)
    {
        var (doc, symbol) = await Lookup(parameters).ConfigureAwait(false);
        if (symbol is null) return null;
        return new Location(symbol.NameSpan.File == doc!.Path ? doc.Uri : UriOf(symbol.NameSpan.File), RangeOf(symbol.NameSpan));
    }

    [JsonRpcMethod("textDocument/documentSymbol")]
    public async Task<IReadOnlyList<DocumentSymbol>> DocumentSymbols(DocumentSymbolParams parameters)
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!documents.TryGetValue(parameters.TextDocument.Uri, out var doc) || doc.Index is null) return [];
            return doc.Index.Declarations.Where(d => d.NameSpan.File == doc.Path).Select(Outline).ToList();
        }
        finally { gate.Release(); }
    }

    async Task<(Document? Doc, SymbolDeclaration? Symbol)> Lookup(TextDocumentPositionParams parameters)
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!documents.TryGetValue(parameters.TextDocument.Uri, out var doc) || doc.Index is null) return (null, null);
            return (doc, doc.Index.At(doc.Path, parameters.Position.Line + 1, parameters.Position.Character + 1));
        }
        finally { gate.Release(); }
    }

    static DocumentSymbol Outline(SymbolDeclaration d)
    {
        var (kind, detail) = d.Kind switch
        {
            SymbolKind.Model => (5, "model"),
            SymbolKind.HyperParameter => (26, "hyper-parameter"),
            SymbolKind.Input => (13, "input"),
            SymbolKind.Layer => (8, d.LayerKind ?? "layer"),
            SymbolKind.Site => (13, "site"),
            SymbolKind.Output => (13, "output"),
            SymbolKind.Symmetry => (22, "symmetry"),
            SymbolKind.LoopVariable => (14, "loop variable"),
            _ => (24, $"train {d.Model}"),
        };
        var range = RangeOf(d.Span);
        var selection = RangeOf(d.NameSpan);
        if (d.Span.IsNone || d.Span.File != d.NameSpan.File) range = selection;
        return new DocumentSymbol(d.Name, detail, kind, range, selection, d.Children.Count == 0 ? null : d.Children.Select(Outline).ToList());
    }

    // ------------------------------------------------------------------ positions and paths

    /// <summary>A 1-based, end-exclusive <see cref="SourceSpan"/> as an LSP range (0-based); a span with no place is the file's start.</summary>
    public static Range RangeOf(SourceSpan span)
    {
        if (span.IsNone) return new Range(new Position(0, 0), new Position(0, 0));
        var start = new Position(span.Line - 1, Math.Max(0, span.Column - 1));
        var end = span.EndLine < span.Line || span.EndLine == span.Line && span.EndColumn <= span.Column
            ? start with { Character = start.Character + 1 }
            : new Position(span.EndLine - 1, Math.Max(0, span.EndColumn - 1));
        return new Range(start, end);
    }

    /// <summary>The local path of a <c>file:</c> URI; any other URI (an unsaved editor buffer) is used as its own name.</summary>
    public static string PathOf(string uri)
        => Uri.TryCreate(uri, UriKind.Absolute, out var u) && u.IsFile ? u.LocalPath : uri;

    public static string UriOf(string path)
    {
        try { return Path.IsPathRooted(path) ? new Uri(Path.GetFullPath(path)).AbsoluteUri : path; }
        catch (Exception e) when (e is UriFormatException or ArgumentException or NotSupportedException or PathTooLongException) { return path; }
    }
}
