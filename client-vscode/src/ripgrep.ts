/**
 * The editor's own ripgrep, handed to the language server (as PLANLOOP_RG in its
 * environment) so the server's search needs no rg on PATH. VS Code bundles it under its
 * app root; where depends on the build: desktop (inside the asar's unpacked copy),
 * code-server and other web builds (one binary per platform). No vscode import here, so
 * the choice is unit-tested under plain node.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where a VS Code build keeps its rg, most likely first. */
export function ripgrepCandidates(appRoot: string, platform: string, arch: string): string[] {
  const exe = platform === 'win32' ? 'rg.exe' : 'rg';
  return [
    path.join(appRoot, 'node_modules', '@vscode', 'ripgrep', 'bin', exe),
    path.join(appRoot, 'node_modules.asar.unpacked', '@vscode', 'ripgrep', 'bin', exe),
    path.join(appRoot, 'node_modules', '@vscode', 'ripgrep-universal', 'bin', `${platform}-${arch}`, exe),
  ];
}

/** The first candidate that is an executable file, or undefined (the server then looks itself). */
export function bundledRipgrep(
  appRoot: string | undefined,
  platform: string = process.platform,
  arch: string = process.arch,
  isExecutable: (p: string) => boolean = executable,
): string | undefined {
  if (!appRoot) return undefined;
  return ripgrepCandidates(appRoot, platform, arch).find(isExecutable);
}

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
