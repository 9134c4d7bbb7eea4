#!/usr/bin/env bash
# Builds the extension package symdsl-VERSION.vsix here with @vscode/vsce (installs the npm packages first when missing).
# Install it with: code --install-extension symdsl-VERSION.vsix
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
version=$(node -p 'require("./package.json").version')
npx --no-install vsce package --skip-license --allow-missing-repository --out "symdsl-$version.vsix"
