// Builds the planloop Python wheel into bundled/, so the vsix can install the server into a
// private venv on machines where planloop is not installed. Python: $PLANLOOP_BUILD_PYTHON,
// else the repo's .venv, else python3. Uses the installed hatchling without build isolation
// when it is there (no network), else lets pip fetch the build backend.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(root, '..');
const out = join(root, 'bundled');
const venvPy = join(repo, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const python = process.env.PLANLOOP_BUILD_PYTHON || (existsSync(venvPy) ? venvPy : 'python3');

mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (f.endsWith('.whl')) rmSync(join(out, f));

let isolation = [];
try {
  execFileSync(python, ['-c', 'import hatchling'], { stdio: 'ignore' });
  isolation = ['--no-build-isolation'];
} catch {
  // pip will install hatchling into an isolated build environment
}
execFileSync(python, ['-m', 'pip', 'wheel', '--no-deps', '--disable-pip-version-check', ...isolation, '-w', out, repo], {
  stdio: 'inherit',
});
const wheels = readdirSync(out).filter((f) => /^planloop-.*\.whl$/.test(f));
if (wheels.length !== 1) {
  console.error(`expected one planloop wheel in ${out}, found: ${wheels.join(', ') || 'none'}`);
  process.exit(1);
}
console.log(`bundled/${wheels[0]}`);
