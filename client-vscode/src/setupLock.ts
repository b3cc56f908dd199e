/**
 * A lock file around the private-venv setup, so two VS Code windows opening at once do not
 * delete and rebuild the same virtual environment under each other.
 *
 * `fs.writeFileSync(..., { flag: 'wx' })` creates the file only if it does not exist (atomic
 * on local filesystems). A lock whose owner process is gone, or that is older than `staleMs`
 * (a crashed window), is taken over. No `vscode` import: unit-tested with node.
 */
import * as fs from 'node:fs';

export class SetupLockTimeout extends Error {}

export interface LockOptions {
  /** how long to wait for another window's setup before giving up */
  waitMs: number;
  /** a lock older than this is abandoned whoever holds it */
  staleMs: number;
  pollMs?: number;
  /** told once when we start waiting, so the UI can say why nothing happens */
  onWait?: (holder: string) => void;
}

function ownerAlive(text: string): boolean {
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` while holding `lockPath`; the lock is released even when `fn` throws. */
export async function withSetupLock<T>(lockPath: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = '';
    let age = 0;
    try {
      holder = fs.readFileSync(lockPath, 'utf8').trim();
      age = Date.now() - fs.statSync(lockPath).mtimeMs;
    } catch {
      continue; // released between our attempt and the look: try again at once
    }
    if (age > opts.staleMs || (holder !== '' && !ownerAlive(holder))) {
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new SetupLockTimeout(`another window (process ${holder || '?'}) is still setting up planloop's Python environment`);
    }
    if (!told) {
      opts.onWait?.(holder);
      told = true;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}
