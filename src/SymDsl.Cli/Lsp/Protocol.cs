using System.Text.Json.Serialization;

namespace SymDsl.Cli.Lsp;

// The few Language Server Protocol messages symc lsp reads and writes (LSP 3.17), as plain records serialized with camelCase
// names (SymcLanguageServer.SerializerOptions). Only the members the server uses are declared: the rest of a client's
// message is ignored when it is read.

public sealed record Position(int Line, int Character);

public sealed record Range(Position Start, Position End);

public sealed record Location(string Uri, Range Range);

public sealed record TextDocumentIdentifier(string Uri);

public sealed record TextDocumentItem(string Uri, string? LanguageId, int Version, string Text);

public sealed record VersionedTextDocumentIdentifier(string Uri, int? Version);

public sealed record DidOpenTextDocumentParams(TextDocumentItem TextDocument);

/// <summary>Full synchronisation: each change carries the whole text (a change with a range is refused at initialize).</summary>
public sealed record TextDocumentContentChangeEvent(string Text, Range? Range = null);

public sealed record DidChangeTextDocumentParams(VersionedTextDocumentIdentifier TextDocument, IReadOnlyList<TextDocumentContentChangeEvent> ContentChanges);

public sealed record DidCloseTextDocumentParams(TextDocumentIdentifier TextDocument);

public sealed record TextDocumentPositionParams(TextDocumentIdentifier TextDocument, Position Position);

public sealed record DocumentSymbolParams(TextDocumentIdentifier TextDocument);

/// <summary>severity: 1 error, 2 warning, 3 information; code: SYMnnnn; source: "symc".</summary>
public sealed record LspDiagnostic(Range Range, int Severity, string Code, string Source, string Message);

public sealed record PublishDiagnosticsParams(string Uri, IReadOnlyList<LspDiagnostic> Diagnostics, int? Version = null);

public sealed record MarkupContent(string Kind, string Value);

public sealed record Hover(MarkupContent Contents, Range? Range = null);

/// <summary>kind: the LSP SymbolKind number (5 class, 7 property, 8 field, 13 variable, 14 constant, 22 struct, 24 event, 26 type parameter).</summary>
public sealed record DocumentSymbol(string Name, string? Detail, int Kind, Range Range, Range SelectionRange, IReadOnlyList<DocumentSymbol>? Children = null);

public sealed record ServerInfo(string Name, string? Version);

public sealed record TextDocumentSyncOptions(bool OpenClose, int Change);

public sealed record ServerCapabilities(TextDocumentSyncOptions TextDocumentSync, bool HoverProvider, bool DefinitionProvider, bool DocumentSymbolProvider);

public sealed record InitializeResult(ServerCapabilities Capabilities, ServerInfo ServerInfo);
