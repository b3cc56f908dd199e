/**
 * Finding (or making) the Python that runs planloop's server.
 *
 * Order: the planloop.python setting → the Python extension's active interpreter (when that
 * extension is installed) → python3. If planloop is not importable there, a private venv is
 * created in the extension's global storage and the wheel shipped in the vsix is installed
 * into it, with a progress notification. Every failure ends in one clear message with a fix-it
 * button; decisions live in pythonLogic.ts.
 */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  type Candidate,
  decidePython,
  parseProbe,
  pickWheel,
  PROBE_SCRIPT,
  type ProbeOutcome,
  venvPython,
} from './pythonLogic';
import { withoutSecrets } from './apiKeyLogic';
import { SetupLockTimeout, withSetupLock } from './setupLock';

export class PythonError extends Error {
  constructor(
    message: string,
    readonly fix: 'openSettings' | 'installPython' | 'showLog',
  ) {
    super(message);
  }
}

function run(
  command: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: options.timeoutMs, env: options.env, cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          const tail = String(stderr || stdout).trim().split(/\r?\n/).slice(-3).join(' | ');
          const why =
            e.code === 'ENOENT'
              ? 'not found'
              : e.killed
                ? `timed out after ${options.timeoutMs / 1000} s`
                : `${e.message.split('\n')[0]}${tail ? ` (${tail})` : ''}`;
          reject(new Error(why));
          return;
        }
        resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Child env for anything Python we start: never hand the API key to installers or probes. */
function cleanEnv(): NodeJS.ProcessEnv {
  return withoutSecrets(process.env) as NodeJS.ProcessEnv;
}

async function probe(command: string, log: vscode.LogOutputChannel): Promise<ProbeOutcome> {
  try {
    const { stdout } = await run(command, ['-c', PROBE_SCRIPT], { timeoutMs: 30_000, env: cleanEnv() });
    const p = parseProbe(stdout);
    if (!p) return { ok: false, error: 'it did not answer like a Python interpreter' };
    log.info(`python probe ${command}: ${JSON.stringify(p)}`);
    return { ok: true, probe: p };
  } catch (e) {
    log.warn(`python probe ${command} failed: ${(e as Error).message}`);
    return { ok: false, error: (e as Error).message };
  }
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(
      env: { path: string } | string,
    ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  };
}

async function pythonExtensionInterpreter(
  folder: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const envs = api?.environments;
    if (!envs) return undefined;
    const active = envs.getActiveEnvironmentPath(folder);
    if (!active) return undefined;
    const resolved = await envs.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch (e) {
    log.warn(`the Python extension did not give an interpreter: ${(e as Error).message}`);
    return undefined;
  }
}

export async function candidates(folder: vscode.Uri | undefined, log: vscode.LogOutputChannel): Promise<Candidate[]> {
  const setting = vscode.workspace.getConfiguration('planloop', folder).get<string>('python', '').trim();
  if (setting) {
    // An explicit setting is a promise: never silently fall back to another interpreter.
    const resolved = folder && !path.isAbsolute(setting) && setting.includes('/')
      ? path.join(folder.fsPath, setting)
      : setting;
    return [{ command: resolved, source: 'setting' }];
  }
  const out: Candidate[] = [];
  const fromExt = await pythonExtensionInterpreter(folder, log);
  if (fromExt) out.push({ command: fromExt, source: 'python-extension' });
  out.push({ command: process.platform === 'win32' ? 'python' : 'python3', source: 'default' });
  return out;
}

function bundledWheel(extensionPath: string): string | undefined {
  const dir = path.join(extensionPath, 'bundled');
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const w = pickWheel(names);
  return w ? path.join(dir, w) : undefined;
}

/**
 * The interpreter to run `-m planloop.lsp` with. Throws PythonError with a message for people.
 */
export async function resolvePython(
  context: vscode.ExtensionContext,
  folder: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string> {
  const wheel = bundledWheel(context.extensionPath);
  const cands = await candidates(folder, log);
  let lastError: PythonError | undefined;
  for (const cand of cands) {
    const outcome = await probe(cand.command, log);
    const decision = decidePython(cand, outcome, Boolean(wheel));
    if (decision.kind === 'use') {
      log.info(`using ${decision.python} (${decision.source})`);
      return decision.python;
    }
    if (decision.kind === 'createVenv') {
      return ensurePrivateVenv(context, decision.basePython, decision.version, wheel as string, log);
    }
    lastError = new PythonError(decision.message, decision.fix);
    // A candidate that runs but is unusable for a clear reason (too old, no venv) is worth
    // reporting even when a later candidate also fails; keep trying the rest first.
  }
  throw lastError ?? new PythonError('No Python interpreter to try.', 'installPython');
}

async function ensurePrivateVenv(
  context: vscode.ExtensionContext,
  basePython: string,
  version: string,
  wheel: string,
  log: vscode.LogOutputChannel,
): Promise<string> {
  const storage = context.globalStorageUri.fsPath;
  const dir = path.join(storage, `venv-py${version.split('.').slice(0, 2).join('.')}`);
  const py = venvPython(dir);
  const marker = path.join(dir, 'planloop-wheel.txt');
  const wheelName = path.basename(wheel);
  const ready = async (): Promise<boolean> => {
    if (!fs.existsSync(py) || readText(marker) !== wheelName) return false;
    const again = await probe(py, log);
    if (again.ok && again.probe.planloop) return true;
    log.warn(`the private venv at ${dir} is broken; rebuilding it`);
    return false;
  };
  if (await ready()) return py;
  fs.mkdirSync(storage, { recursive: true });
  // another window opening at the same time must not rebuild the venv under this one
  try {
    return await withSetupLock(
      path.join(storage, 'venv-setup.lock'),
      {
        waitMs: 15 * 60_000,
        staleMs: 15 * 60_000,
        onWait: (holder) => log.info(`waiting for another window (process ${holder}) to set up ${dir}`),
      },
      async () => ((await ready()) ? py : buildPrivateVenv(basePython, version, dir, py, marker, wheel, wheelName, log)),
    );
  } catch (e) {
    if (e instanceof SetupLockTimeout) throw new PythonError(`planloop: ${e.message}; try again later.`, 'showLog');
    throw e;
  }
}

function buildPrivateVenv(
  basePython: string,
  version: string,
  dir: string,
  py: string,
  marker: string,
  wheel: string,
  wheelName: string,
  log: vscode.LogOutputChannel,
): Thenable<string> {
  return vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: 'planloop: setting up its Python environment',
      cancellable: false,
    },
    async (progress) => {
      fs.rmSync(dir, { recursive: true, force: true });
      progress.report({ message: `creating a virtual environment with Python ${version}…` });
      log.info(`creating venv ${dir} with ${basePython}`);
      try {
        await run(basePython, ['-m', 'venv', dir], { timeoutMs: 180_000, env: cleanEnv() });
      } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw new PythonError(
          `planloop could not create its virtual environment with ${basePython}: ${(e as Error).message}. ` +
            'On Debian/Ubuntu install python3-venv, or set planloop.python to a Python where planloop is installed.',
          'installPython',
        );
      }
      progress.report({ message: `installing ${wheelName} and its dependencies…` });
      log.info(`installing ${wheel} into ${dir}`);
      try {
        await run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', wheel], {
          timeoutMs: 600_000,
          env: cleanEnv(),
        });
      } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw new PythonError(
          `planloop could not install its Python package (${wheelName}): ${(e as Error).message}. ` +
            'pip needs network access to fetch its dependencies; see the planloop log.',
          'showLog',
        );
      }
      fs.writeFileSync(marker, wheelName);
      return py;
    },
  );
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
