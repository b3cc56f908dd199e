// Choosing the server's Python: each bad-input case ends in a message that says what to do.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { decidePython, parseProbe, pickWheel, PROBE_SCRIPT, type ProbeResult, venvPython, versionOk } from '../pythonLogic';

const probe = (over: Partial<ProbeResult> = {}): ProbeResult => ({
  version: [3, 11, 4],
  executable: '/usr/bin/python3.11',
  venv: true,
  ensurepip: true,
  planloop: false,
  ...over,
});
const def = { command: 'python3', source: 'default' as const };
const setting = { command: '/opt/py/bin/python', source: 'setting' as const };

test('the probe script runs on a real Python and parses', () => {
  let out: string;
  try {
    out = execFileSync('python3', ['-c', PROBE_SCRIPT], { encoding: 'utf8' });
  } catch {
    return; // no python3 on this machine: the decision tests below still cover the logic
  }
  const p = parseProbe(out);
  assert.ok(p, out);
  assert.ok(p.version[0] >= 3);
  assert.equal(typeof p.venv, 'boolean');
  assert.ok(p.executable.length > 0);
});

test('bad input: probe output that is not ours', () => {
  assert.equal(parseProbe('Python 2.7.18'), undefined);
  assert.equal(parseProbe('PLANLOOP_PROBE {not json'), undefined);
  assert.equal(parseProbe('PLANLOOP_PROBE {"version": "3"}'), undefined);
});

test('planloop importable: use that interpreter', () => {
  assert.deepEqual(decidePython(def, { ok: true, probe: probe({ planloop: true }) }, true), {
    kind: 'use',
    python: '/usr/bin/python3.11',
    source: 'default',
  });
});

test('not importable but a wheel is bundled: build the private venv', () => {
  assert.deepEqual(decidePython(def, { ok: true, probe: probe() }, true), {
    kind: 'createVenv',
    basePython: '/usr/bin/python3.11',
    version: '3.11.4',
  });
});

test('bad input: no Python at all', () => {
  const d = decidePython(def, { ok: false, error: 'not found' }, true);
  assert.equal(d.kind, 'error');
  assert.ok(d.kind === 'error' && d.fix === 'installPython');
  assert.match((d as { message: string }).message, /needs Python 3\.10 or later, and "python3" could not be run: not found/);
});

test('bad input: the configured Python does not run → fix-it opens the setting', () => {
  const d = decidePython(setting, { ok: false, error: 'not found' }, true);
  assert.ok(d.kind === 'error' && d.fix === 'openSettings');
  assert.match(d.kind === 'error' ? d.message : '', /the planloop\.python setting/);
});

test('bad input: Python too old', () => {
  const d = decidePython(def, { ok: true, probe: probe({ version: [3, 9, 18] }) }, true);
  assert.match(d.kind === 'error' ? d.message : '', /needs Python 3\.10 or later; "python3" is Python 3\.9\.18/);
});

test('bad input: Python without venv (Debian without python3-venv)', () => {
  const d = decidePython(def, { ok: true, probe: probe({ ensurepip: false }) }, true);
  assert.match(d.kind === 'error' ? d.message : '', /no ensurepip module \(on Debian\/Ubuntu: sudo apt install python3-venv\)/);
  const d2 = decidePython(def, { ok: true, probe: probe({ venv: false }) }, true);
  assert.match(d2.kind === 'error' ? d2.message : '', /no venv module/);
});

test('bad input: not importable and no bundled wheel', () => {
  const d = decidePython(def, { ok: true, probe: probe({ planloopError: "ModuleNotFoundError: No module named 'planloop'" }) }, false);
  assert.match(d.kind === 'error' ? d.message : '', /ships no planloop wheel/);
});

test('version check', () => {
  assert.ok(versionOk([3, 10, 0]));
  assert.ok(versionOk([4, 0, 0]));
  assert.ok(!versionOk([3, 9, 9]));
  assert.ok(!versionOk([2, 7, 18]));
});

test('wheel choice and venv layout', () => {
  assert.equal(pickWheel(['x.txt', 'planloop-0.2.0-py3-none-any.whl', 'planloop-0.10.0-py3-none-any.whl']), 'planloop-0.10.0-py3-none-any.whl');
  assert.equal(pickWheel(['other-1.0-py3-none-any.whl']), undefined);
  assert.equal(venvPython('/s/venv', 'linux'), '/s/venv/bin/python');
  assert.equal(venvPython('C:\\s\\venv', 'win32'), 'C:\\s\\venv\\Scripts\\python.exe');
});
