// The private-venv setup lock: two setups never overlap; a dead owner's lock is taken over.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SetupLockTimeout, withSetupLock } from '../setupLock';

const tmpLock = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pl-lock-')), 'venv-setup.lock');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('two windows setting up at once run one after the other', async () => {
  const lock = tmpLock();
  const trace: string[] = [];
  const setup = (name: string) =>
    withSetupLock(lock, { waitMs: 5000, staleMs: 60_000, pollMs: 10 }, async () => {
      trace.push(`${name} start`);
      await sleep(50);
      trace.push(`${name} end`);
      return name;
    });
  const results = await Promise.all([setup('a'), setup('b')]);
  assert.deepEqual(results, ['a', 'b']);
  assert.deepEqual(trace, ['a start', 'a end', 'b start', 'b end']);
  assert.equal(fs.existsSync(lock), false, 'released');
});

test('bad input: a lock left by a crashed window (dead process) is taken over', async () => {
  const lock = tmpLock();
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.writeFileSync(lock, dead.stdout);
  const got = await withSetupLock(lock, { waitMs: 1000, staleMs: 60_000, pollMs: 10 }, async () => 'mine');
  assert.equal(got, 'mine');
});

test('a live holder makes us wait, and the wait has a limit with a clear error', async () => {
  const lock = tmpLock();
  fs.writeFileSync(lock, String(process.pid)); // alive: this very process
  let waited = '';
  await assert.rejects(
    withSetupLock(lock, { waitMs: 100, staleMs: 60_000, pollMs: 10, onWait: (h) => (waited = h) }, async () => 'x'),
    (e: unknown) => e instanceof SetupLockTimeout && /still setting up/.test((e as Error).message),
  );
  assert.equal(waited, String(process.pid));
  assert.ok(fs.existsSync(lock), 'someone else\'s lock is left alone');
});

test('the lock is released when the setup fails', async () => {
  const lock = tmpLock();
  await assert.rejects(
    withSetupLock(lock, { waitMs: 100, staleMs: 60_000 }, async () => {
      throw new Error('pip failed');
    }),
    /pip failed/,
  );
  assert.equal(fs.existsSync(lock), false);
});
