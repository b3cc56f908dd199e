/**
 * Choosing the Python that runs planloop's server, as decisions on facts.
 *
 * python.ts gathers the facts (it runs a probe script with each candidate interpreter) and
 * carries out the decision (use it, or build a private venv from the bundled wheel); what to
 * do for each combination, and what the error says, is here so every bad-input case
 * (no Python, too old, no venv module, no wheel) is unit tested without VS Code.
 */

export const MIN_PYTHON: readonly [number, number] = [3, 10];

/** Run as `python -c PROBE`; prints one JSON object. Must itself run on old Pythons. */
export const PROBE_SCRIPT = [
  'import json, sys',
  'def has(m):',
  '    try:',
  '        import importlib.util',
  '        return importlib.util.find_spec(m) is not None',
  '    except Exception:',
  '        return False',
  'r = {"version": list(sys.version_info[:3]), "executable": sys.executable,',
  '     "venv": has("venv"), "ensurepip": has("ensurepip")}',
  'try:',
  '    import planloop.lsp',
  '    r["planloop"] = True',
  'except Exception as e:',
  '    r["planloop"] = False',
  '    r["planloopError"] = type(e).__name__ + ": " + str(e)',
  'print("PLANLOOP_PROBE " + json.dumps(r))',
].join('\n');

export interface ProbeResult {
  version: [number, number, number];
  executable: string;
  venv: boolean;
  ensurepip: boolean;
  planloop: boolean;
  planloopError?: string;
}

/** The probe's JSON line, or undefined when the output is not a probe result. */
export function parseProbe(stdout: string): ProbeResult | undefined {
  const line = stdout.split(/\r?\n/).find((l) => l.startsWith('PLANLOOP_PROBE '));
  if (!line) return undefined;
  try {
    const r = JSON.parse(line.slice('PLANLOOP_PROBE '.length)) as Partial<ProbeResult>;
    if (!Array.isArray(r.version) || r.version.length < 2) return undefined;
    return {
      version: [Number(r.version[0]), Number(r.version[1]), Number(r.version[2] ?? 0)],
      executable: String(r.executable ?? ''),
      venv: Boolean(r.venv),
      ensurepip: Boolean(r.ensurepip),
      planloop: Boolean(r.planloop),
      planloopError: r.planloopError,
    };
  } catch {
    return undefined;
  }
}

export function versionOk(v: readonly number[]): boolean {
  return v[0] > MIN_PYTHON[0] || (v[0] === MIN_PYTHON[0] && v[1] >= MIN_PYTHON[1]);
}

export type Source = 'setting' | 'python-extension' | 'default';

export interface Candidate {
  command: string;
  source: Source;
}

export type ProbeOutcome =
  | { ok: true; probe: ProbeResult }
  | { ok: false; error: string };

export type PythonDecision =
  | { kind: 'use'; python: string; source: Source }
  | { kind: 'createVenv'; basePython: string; version: string }
  | { kind: 'error'; message: string; fix: 'openSettings' | 'installPython' };

function where(c: Candidate): string {
  switch (c.source) {
    case 'setting':
      return `"${c.command}" (the planloop.python setting)`;
    case 'python-extension':
      return `"${c.command}" (the Python extension's interpreter)`;
    default:
      return `"${c.command}"`;
  }
}

/**
 * What to do with the first candidate that runs. `haveWheel` says whether this build of the
 * extension ships a planloop wheel to install into a private venv.
 */
export function decidePython(
  candidate: Candidate,
  outcome: ProbeOutcome,
  haveWheel: boolean,
): PythonDecision {
  if (!outcome.ok) {
    return {
      kind: 'error',
      fix: candidate.source === 'setting' ? 'openSettings' : 'installPython',
      message:
        `planloop needs Python ${MIN_PYTHON.join('.')} or later, and ${where(candidate)} could not be run: ` +
        `${outcome.error}. Install Python ${MIN_PYTHON.join('.')}+ or set planloop.python to one.`,
    };
  }
  const p = outcome.probe;
  const v = p.version.join('.');
  if (!versionOk(p.version)) {
    return {
      kind: 'error',
      fix: candidate.source === 'setting' ? 'openSettings' : 'installPython',
      message:
        `planloop needs Python ${MIN_PYTHON.join('.')} or later; ${where(candidate)} is Python ${v}. ` +
        'Install a newer Python or set planloop.python to one.',
    };
  }
  if (p.planloop) return { kind: 'use', python: p.executable || candidate.command, source: candidate.source };
  if (!haveWheel) {
    return {
      kind: 'error',
      fix: 'openSettings',
      message:
        `planloop is not installed for ${where(candidate)} (${p.planloopError ?? 'import failed'}), and this ` +
        'build of the extension ships no planloop wheel. Run "pip install planloop" there, or set planloop.python ' +
        'to a Python that has it.',
    };
  }
  if (!p.venv || !p.ensurepip) {
    return {
      kind: 'error',
      fix: 'installPython',
      message:
        `planloop needs a private virtual environment, but Python ${v} at ${where(candidate)} has no ` +
        `${!p.venv ? 'venv' : 'ensurepip'} module (on Debian/Ubuntu: sudo apt install python3-venv). ` +
        'Or set planloop.python to a Python where planloop is installed.',
    };
  }
  return { kind: 'createVenv', basePython: p.executable || candidate.command, version: v };
}

/** The interpreter inside a venv directory. */
export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? `${venvDir}\\Scripts\\python.exe` : `${venvDir}/bin/python`;
}

/** The wheel to ship: the newest `planloop-*.whl` name (by version) in bundled/. */
export function pickWheel(fileNames: readonly string[]): string | undefined {
  const wheels = fileNames.filter((f) => /^planloop-[^-]+-.*\.whl$/.test(f));
  const ver = (f: string) => f.split('-')[1].split('.').map((x) => parseInt(x, 10) || 0);
  wheels.sort((a, b) => {
    const va = ver(a);
    const vb = ver(b);
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      const d = (va[i] ?? 0) - (vb[i] ?? 0);
      if (d) return d;
    }
    return a.localeCompare(b);
  });
  return wheels[wheels.length - 1];
}
