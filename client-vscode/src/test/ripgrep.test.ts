// The editor's bundled ripgrep: found where each VS Code build keeps it, or left to the server.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { bundledRipgrep, ripgrepCandidates } from '../ripgrep';

test('desktop, unpacked asar and code-server layouts, in that order', () => {
  const c = ripgrepCandidates('/app', 'linux', 'x64');
  assert.deepEqual(c, [
    '/app/node_modules/@vscode/ripgrep/bin/rg',
    '/app/node_modules.asar.unpacked/@vscode/ripgrep/bin/rg',
    '/app/node_modules/@vscode/ripgrep-universal/bin/linux-x64/rg',
  ]);
  assert.ok(ripgrepCandidates('C:\\app', 'win32', 'x64')[0].endsWith('rg.exe'));
});

test('a real executable file is found; a missing one or a directory is not', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'planloop-rg-'));
  try {
    assert.equal(bundledRipgrep(root, 'linux', 'x64'), undefined);
    const dir = path.join(root, 'node_modules', '@vscode', 'ripgrep-universal', 'bin', 'linux-x64');
    fs.mkdirSync(path.join(dir, 'rg'), { recursive: true }); // a directory named rg
    assert.equal(bundledRipgrep(root, 'linux', 'x64'), undefined);
    fs.rmSync(path.join(dir, 'rg'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'rg'), '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(bundledRipgrep(root, 'linux', 'x64'), path.join(dir, 'rg'));
    assert.equal(bundledRipgrep(undefined), undefined);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
