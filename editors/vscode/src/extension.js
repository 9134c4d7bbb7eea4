// The SymDsl extension: starts `symc lsp` (the setting symdsl.server.path) for .sym files and connects it to VS Code
// with vscode-languageclient. Highlighting comes from the TextMate grammar and works without symc.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration('symdsl');
  const command = config.get('server.path', 'symc');
  const args = ['lsp', ...config.get('server.args', [])];
  const serverOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'sym' }, { scheme: 'untitled', language: 'sym' }],
    outputChannelName: 'SymDsl',
  };
  client = new LanguageClient('symdsl', 'SymDsl (symc lsp)', serverOptions, clientOptions);
  client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `SymDsl: could not start '${command} lsp' (${error.message}). Set "symdsl.server.path" to the symc executable.`);
  });
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('symdsl.server')) {
      vscode.window.showInformationMessage('SymDsl: reload the window to restart symc lsp with the new settings.');
    }
  }));
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
