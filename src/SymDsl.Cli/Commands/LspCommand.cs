using System.CommandLine;
using SymDsl.Cli.Lsp;

namespace SymDsl.Cli.Commands;

/// <summary><c>symc lsp</c>: the language server, speaking LSP on stdin/stdout until the client sends <c>exit</c>.</summary>
internal static class LspCommand
{
    public static Command Create(CliIO io)
    {
        var set = CommonOptions.Set();
        var maxBytes = CommonOptions.MaxParameterBytes();
        var stdio = new Option<bool>("--stdio") { Description = "Speak LSP on stdin/stdout (the default and only transport; accepted because editors pass it)." };
        var command = new Command("lsp", "Run the language server (Language Server Protocol over stdin/stdout) for editors: diagnostics as you type, hover, go to definition, outline.") { set, maxBytes, stdio };
        command.SetAction(async (parse, cancel) =>
        {
            var options = new CompileOptions(CommonOptions.ParseAssignments(parse.GetValue(set)), parse.GetValue(maxBytes));
            // stdout carries the protocol only: anything else a command would print goes to stderr.
            using var input = Console.OpenStandardInput();
            using var output = Console.OpenStandardOutput();
            return await SymcLanguageServer.RunAsync(input, output, options, cancel);
        });
        return command;
    }
}
