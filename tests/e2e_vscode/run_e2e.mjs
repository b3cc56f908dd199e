#!/usr/bin/env node
// planloop end to end in a real VS Code: code-server driven by headless Chromium (playwright-core).
//
// What it does, as a person would (see /work/shared/notes/vscode-e2e.md for the setup):
//   build the vsix → install it into a fresh code-server → open a temporary copy of
//   examples/calculator with the scripted models from its demo.json → New Plan (palette, goal)
//   → the tree shows the steps → Run All → the re-plan modal → Review shows the plan diff →
//   Approve → every step passes → Show Step Changes opens the multi-diff → Revert Step puts the
//   files back on disk. Then a first run with planloop.python set to a fresh venv without
//   planloop: the extension builds its private venv from the wheel in the vsix (pip fetches the
//   dependencies from PyPI) behind a progress notification, and New Plan works.
// It asserts on the DOM (tree rows' aria-labels, dialogs, editors) and on files on disk, and
// saves a screenshot of each stage in artifacts/e2e/. Every process it starts is stopped.
//
// Needs: scripts/provision-e2e.sh done (Node 24, code-server, playwright-core, chromium).
// Env: PLANLOOP_E2E_CACHE (default .cache/e2e), PLANLOOP_E2E_PYTHON (default .venv/bin/python),
//      PLANLOOP_E2E_VSIX (skip the build and use this vsix), PLANLOOP_E2E_ARTIFACTS,
//      PLANLOOP_E2E_KEEP=1 (keep the temp folder for debugging),
//      PLANLOOP_E2E_ONLY=main,auto,editplan,crash,bad,firstrun (a subset of the scenarios; default all),
//      PLANLOOP_E2E_BASE_PYTHON (the python3 the "first run" scenario makes its bare venv with;
//      default python3 on the caller's PATH).

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = process.env.PLANLOOP_E2E_CACHE || path.join(REPO, '.cache', 'e2e');
const ARTIFACTS = process.env.PLANLOOP_E2E_ARTIFACTS || path.join(REPO, 'artifacts', 'e2e');
const PYTHON = process.env.PLANLOOP_E2E_PYTHON || path.join(REPO, '.venv', 'bin', 'python');
const EXAMPLE = path.join(REPO, 'examples', 'calculator');
const DEMO = path.join(EXAMPLE, 'demo.json');
const CLIENT = path.join(REPO, 'client-vscode');
const CHROMIUM = process.env.PLANLOOP_E2E_CHROMIUM || '/usr/bin/chromium';
const SCENARIOS = ['main', 'auto', 'editplan', 'question', 'crash', 'bad', 'firstrun'];
// PLANLOOP_E2E_ONLY=main,crash,bad,firstrun runs a subset (for debugging one flow).
const ONLY = new Set((process.env.PLANLOOP_E2E_ONLY || SCENARIOS.join(',')).split(',').map((x) => x.trim()));
for (const name of ONLY) {
  if (!SCENARIOS.includes(name)) {
    console.error(`e2e: unknown scenario "${name}" in PLANLOOP_E2E_ONLY (known: ${SCENARIOS.join(', ')})`);
    process.exit(2);
  }
}
const GOAL =
  'Make division by zero raise a clear CalculatorError instead of a bare ZeroDivisionError, and add a mean() function';

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(7);
const say = (msg) => console.log(`[e2e ${stamp()}] ${msg}`);

// --- prerequisites ----------------------------------------------------------------------------

function need(file, what) {
  if (!fs.existsSync(file)) {
    console.error(`e2e: ${what} missing (${file}). Run scripts/provision-e2e.sh first.`);
    process.exit(2);
  }
}
need(path.join(CACHE, 'node_modules', '.bin', 'code-server'), 'code-server');
need(path.join(CACHE, 'node_modules', 'playwright-core'), 'playwright-core');
need(path.join(CACHE, 'bin', 'node'), 'Node 24');
need(CHROMIUM, 'chromium');
need(PYTHON, 'the Python with planloop installed');
need(DEMO, 'examples/calculator/demo.json');

const require = createRequire(path.join(CACHE, 'package.json'));
const { chromium } = require('playwright-core');

// Node 24 + npm shim + code-server first on PATH, for every child we start; then the venv's
// bin, as for a person who opened VS Code from an activated venv: the calculator's checks run
// `python -m pytest`, and a fresh Debian has no `python` command at all.
const ENV = {
  ...process.env,
  PATH: `${path.join(CACHE, 'bin')}:${path.join(CACHE, 'node_modules', '.bin')}:${path.dirname(PYTHON)}:${process.env.PATH}`,
  // The example needs no pytest plugins; not loading the venv's makes every check far faster.
  PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1',
  npm_config_nodedir: path.dirname(path.dirname(fs.realpathSync(path.join(CACHE, 'bin', 'node')))),
};
// The extension must never see a real key in the test, and nothing here needs one.
delete ENV.ANTHROPIC_API_KEY;
delete ENV.ANTHROPIC_AUTH_TOKEN;

// --- processes --------------------------------------------------------------------------------

const started = []; // pids of process-group leaders we spawned

/** All descendants of pid (read from /proc), so nothing a child re-parented is missed. */
function descendants(pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // exited while we looked
    }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'; // zombies are dead
  } catch {
    return false;
  }
}

const everyPid = new Set(); // every process of ours seen while stopping, checked afterwards

async function stopAll() {
  for (const pid of started) {
    const tree = [pid, ...descendants(pid)];
    for (const p of tree) everyPid.add(p);
    try {
      process.kill(-pid, 'SIGTERM'); // the process group we created
    } catch {
      // already gone
    }
    for (const p of tree) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && tree.some(alive)) await sleep(100);
    for (const p of tree.filter(alive)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
}

// --- setup ------------------------------------------------------------------------------------

function buildVsix() {
  if (process.env.PLANLOOP_E2E_VSIX) return path.resolve(process.env.PLANLOOP_E2E_VSIX);
  if (!fs.existsSync(path.join(CLIENT, 'node_modules'))) {
    say('npm ci in client-vscode');
    run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: CLIENT });
  }
  say('building the vsix (npm run package)');
  run('npm', ['run', 'package'], { cwd: CLIENT });
  const pkg = JSON.parse(fs.readFileSync(path.join(CLIENT, 'package.json'), 'utf8'));
  const vsix = path.join(CLIENT, `${pkg.name}-${pkg.version}.vsix`);
  if (!fs.existsSync(vsix)) throw new Error(`npm run package did not produce ${vsix}`);
  return vsix;
}

function copyWorkspace(dest, overrides = {}) {
  fs.cpSync(EXAMPLE, dest, {
    recursive: true,
    filter: (src) => !/(^|\/)(__pycache__|\.pytest_cache|\.planloop)(\/|$)/.test(path.relative(EXAMPLE, src)),
  });
  fs.mkdirSync(path.join(dest, '.vscode'), { recursive: true });
  const spec = `scripted:${DEMO}`;
  fs.writeFileSync(
    path.join(dest, '.vscode', 'settings.json'),
    JSON.stringify(
      {
        'planloop.planner': spec,
        'planloop.executor': spec,
        'planloop.python': PYTHON,
        // the demo script is written for the split loop (plan, retry, re-plan)
        'planloop.mode': 'split',
        // planloop.reviewPlanFirst stays at its default (on): pressing Run All on the plan
        // the tree shows is the review, so the first dialog is the re-plan under test.
        ...overrides,
      },
      null,
      2,
    ),
  );
}

function writeUserSettings(userDir) {
  const dir = path.join(userDir, 'User');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'settings.json'),
    JSON.stringify(
      {
        'security.workspace.trust.enabled': false,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'chat.disableAIFeatures': true,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'files.autoSave': 'off',
        'git.enabled': false,
        'window.commandCenter': false,
      },
      null,
      2,
    ),
  );
}

async function startCodeServer(tmp, ws, port) {
  const log = fs.openSync(path.join(tmp, 'code-server.log'), 'w');
  const child = spawn(
    path.join(CACHE, 'node_modules', '.bin', 'code-server'),
    [
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--user-data-dir', path.join(tmp, 'user'),
      '--extensions-dir', path.join(tmp, 'ext'),
      ws,
    ],
    { env: { ...ENV, XDG_CONFIG_HOME: path.join(tmp, 'xdg'), XDG_DATA_HOME: path.join(tmp, 'xdg-data'), XDG_CACHE_HOME: path.join(tmp, 'cache') }, detached: true, stdio: ['ignore', log, log] },
  );
  started.push(child.pid);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited (${child.exitCode}); see ${tmp}/code-server.log`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error('code-server did not answer /healthz within 60 s');
}

// --- driving the workbench ---------------------------------------------------------------------

let page;
let shotN = 0;
const shots = [];

async function shot(name) {
  await sleep(500); // let notifications and dialogs finish fading in
  shotN += 1;
  const file = path.join(ARTIFACTS, `${String(shotN).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  shots.push(file);
  say(`screenshot ${path.relative(REPO, file)}`);
}

async function palette(command) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+Shift+P');
  const input = page.locator('.quick-input-widget input.input');
  try {
    await input.waitFor({ state: 'visible', timeout: 5_000 });
  } catch {
    // focus in a read-only editor can swallow the chord: move focus to the status bar, use F1
    await page.locator('.statusbar').first().click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
  }
  await input.fill(`>${command}`);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: command }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
}

/** Quick-open a file by name: waits for the file picker's own input instead of typing
 * blind, so keys never land in whichever editor had focus (the plan document is one). */
async function goToFile(name) {
  const input = page.locator('.quick-input-widget input.input');
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first();
  for (let attempt = 1; ; attempt++) {
    await palette('Go to File');
    await page.waitForTimeout(300);
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(name);
    try {
      await row.waitFor({ state: 'visible', timeout: 10_000 });
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

/** Tree rows of the Plan view (steps, checks, files) by aria-label. */
const planRows = () => page.locator('.pane-body .monaco-list-row[aria-label]');

async function stepLabels() {
  return page.$$eval('.monaco-list-row[aria-label^="step "]', (els) => els.map((e) => e.getAttribute('aria-label')));
}

async function waitFor(what, fn, timeoutMs = 60_000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

const dialog = () => page.locator('.monaco-dialog-box');
async function dialogButton(text) {
  const b = dialog().locator('.monaco-button', { hasText: text }).first();
  await b.waitFor({ state: 'visible', timeout: 10_000 });
  return b;
}

async function rowContextMenu(rowLocator, item) {
  await rowLocator.click({ button: 'right' });
  const entry = page.locator('.context-view .action-menu-item', { hasText: item }).first();
  await entry.waitFor({ state: 'visible', timeout: 10_000 });
  // VS Code's menus act on a real press-and-release over the item, not a synthetic click.
  await entry.hover();
  await sleep(150);
  await page.mouse.down();
  await sleep(50);
  await page.mouse.up();
  await entry.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** Wider side bar, so the screenshots show whole step titles. */
async function widenSideBar(by) {
  const box = await page.locator('.part.sidebar').boundingBox();
  if (!box) return;
  const x = box.x + box.width + 1;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + by / 2, y, { steps: 5 });
  await page.mouse.move(x + by, y, { steps: 5 });
  await page.mouse.up();
}

/** The title of the focused editor group's active tab. */
async function activeTabText() {
  const titles = await page
    .locator('.editor-group-container.active .tabs-container .tab.active')
    .evaluateAll((els) => els.map((e) => e.innerText));
  return titles.map((t) => plain(t).replace(/\n/g, '')).join(' | '); // name and extension are separate spans
}

/** Editors render spaces as no-break spaces. */
const plain = (s) => s.replace(/\u00a0/g, ' ');

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

// --- the scenarios -----------------------------------------------------------------------------

const BROWSER_ARGS = ['--no-sandbox', '--no-zygote', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
let port;
const consoleErrors = [];

const folderUrl = (ws) => `http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`;

async function openWindow(browser, url) {
  const p = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  p.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  await p.goto(url);
  await p.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  return p;
}

async function openPlanView() {
  const icon = page.locator('.activitybar .action-item [aria-label^="planloop"]').first();
  await icon.waitFor({ state: 'visible', timeout: 60_000 });
  await icon.click();
  await page.locator('.part.sidebar .title-label', { hasText: /planloop/i }).first().waitFor({ timeout: 30_000 });
  await widenSideBar(220);
}

async function newPlan(goal) {
  await palette('Planloop: New Plan');
  await waitFor('the goal input box', async () => (await page.locator('.quick-input-widget', { hasText: 'New Plan' }).isVisible()) || null, 15_000);
  await page.locator('.quick-input-widget input.input').fill(goal);
  await page.keyboard.press('Enter');
  const labels = await waitFor('the plan tree with 3 steps', async () => {
    const got = await stepLabels();
    return got.length === 3 ? got : null;
  });
  // New Plan then opens the read-only review document and says "drafted": wait for that, or
  // the review editor takes the focus from whatever quick input comes next
  await page.locator('.notification-toast', { hasText: 'drafted 3 steps' }).waitFor({ timeout: 30_000 });
  return labels;
}

/** Run All from the "drafted" notification, then wait for the re-plan question. */
async function runAllUntilReplanDialog() {
  const toast = page.locator('.notification-toast', { hasText: 'drafted 3 steps' });
  await toast.waitFor({ timeout: 15_000 });
  await toast.locator('.monaco-button', { hasText: 'Run All' }).click();
  await dialog().waitFor({ state: 'visible', timeout: 120_000 });
  const t = await dialog().innerText();
  assert(/proposes a re-plan \(plan v2\)/.test(t), `re-plan dialog title: ${t}`);
  return t;
}

async function waitAllPassed(timeoutMs = 120_000) {
  return waitFor(
    'every step passed',
    async () => {
      const labels = await stepLabels();
      return labels.length === 3 && labels.every((l) => l.endsWith(', passed')) ? labels : null;
    },
    timeoutMs,
  );
}

/** The language server serving `ws` (its cwd), among the processes code-server started. */
function serverPidFor(ws) {
  const real = fs.realpathSync(ws);
  for (const pid of started.flatMap((p) => descendants(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('planloop.lsp') && fs.readlinkSync(`/proc/${pid}/cwd`) === real) return pid;
    } catch {
      // exited
    }
  }
  return undefined;
}

async function mouseAway() {
  await page.mouse.move(900, 880);
  await sleep(300);
}

/** The flow: plan → run → re-plan approval with review → all pass → changes → revert. */
async function mainFlow(browser, ws) {
  page = await openWindow(browser, folderUrl(ws));
  say('workbench loaded');

  // 1. The planloop view with its welcome content (no plan yet).
  await openPlanView();
  const welcome = page.locator('.welcome-view-content', { hasText: 'No plan yet' });
  await welcome.waitFor({ state: 'visible', timeout: 60_000 });
  assert(await welcome.locator('.monaco-button', { hasText: 'New Plan' }).isVisible(), 'welcome view has a New Plan button');
  await shot('welcome');

  // 2. New Plan from the palette, the goal typed into the input box → the tree shows the steps.
  const v1 = await newPlan(GOAL);
  assert(v1[0] === 'step 1. Add a CalculatorError exception, pending', `first step row: ${v1[0]}`);
  assert(v1.every((l) => l.endsWith(', pending')), `all steps pending: ${v1.join(' | ')}`);
  const goalRow = page.locator('.monaco-list-row[aria-label^="goal "]');
  assert((await goalRow.getAttribute('aria-label')).includes('plan version 1'), 'goal row shows version 1');
  await shot('plan-tree');

  // 3. Run All → the second step fails twice → the re-plan modal, with the evidence.
  const question = await runAllUntilReplanDialog();
  assert(/test_div_by_zero_raises/.test(question), 'the dialog shows the failing test as evidence');
  assert(/Review/.test(question) && /Approve/.test(question) && /Reject/.test(question), 'Review / Approve / Reject buttons');
  // The tree catches up behind the modal (notifications keep flowing while it is open).
  await waitFor('step 1 passed and step 2 failed behind the dialog', async () => {
    const during = await stepLabels();
    return (
      (during.includes('step 1. Add a CalculatorError exception, passed') &&
        during.includes('step 2. Raise CalculatorError on division by zero, failed')) ||
      null
    );
  }, 15_000);
  await shot('replan-dialog');

  // Bad input: a second window on the same folder while this run waits → a clear refusal.
  const first = page;
  page = await openWindow(browser, folderUrl(ws));
  await openPlanView();
  await page.locator('.monaco-list-row[aria-label^="waiting for you: a re-plan (plan v2)"]').waitFor({ timeout: 60_000 });
  await palette('Planloop: Run All');
  const busy = page.locator('.notification-toast', { hasText: 'already in progress' });
  await busy.waitFor({ timeout: 30_000 });
  assert(/a planloop run is already in progress in .*wait for it to finish or cancel it/.test(plain(await busy.innerText())), 'busy message');
  await shot('second-window-refused');
  await page.close();
  page = first;
  await page.bringToFront();

  // 4. Review → the plan Markdown diff (current ↔ proposed), then the question again.
  await (await dialogButton('Review')).click();
  await page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 30_000 });
  await dialog().waitFor({ state: 'visible', timeout: 30_000 });
  const tab = await activeTabText();
  assert(/current ↔ proposed v2/.test(tab), `diff tab title: ${tab}`);
  await shot('replan-review-diff');
  const diffText = plain(await page.locator('.monaco-diff-editor').first().innerText());
  assert(/Keep ZeroDivisionError callers working/.test(diffText), `the proposed plan is in the diff: ${diffText.slice(0, 400)}`);

  // 5. Approve → the run continues on plan v2 until every step passed.
  await (await dialogButton('Approve')).click();
  say('approved; waiting for every step to pass');
  const done = await waitAllPassed();
  assert(done[1] === 'step 2. Keep ZeroDivisionError callers working, passed', `v2 step 2: ${done[1]}`);
  assert(done[2] === 'step 3. Add mean(), passed', `v2 step 3: ${done[2]}`);
  assert((await goalRow.getAttribute('aria-label')).includes('plan version 2'), 'goal row shows version 2');
  await page.locator('.notification-toast', { hasText: 'every step passed' }).waitFor({ timeout: 30_000 });
  const status = await page.locator('.statusbar-item', { hasText: 'planloop 3/3' }).first().innerText();
  assert(/planloop 3\/3 · \$/.test(status), `status bar: ${status}`);
  const calc = fs.readFileSync(path.join(ws, 'calculator', 'calc.py'), 'utf8');
  assert(calc.includes('def mean('), 'calc.py has mean() on disk');
  run(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: ws });
  say('the workspace test suite passes');
  // Expand step 3: its checks (✓), changed files and cost.
  const step3 = page.locator('.monaco-list-row[aria-label="step 3. Add mean(), passed"]');
  await step3.click();
  await page.keyboard.press('ArrowRight');
  await page.locator('.monaco-list-row[aria-label^="file tests/test_calc.py"]').waitFor({ timeout: 10_000 });
  await page.locator('.monaco-list-row[aria-label^="check "][aria-label*=" passed"]').first().waitFor({ timeout: 10_000 });
  await mouseAway();
  await shot('all-steps-passed');
  // A changed file's row opens that file's diff for the step.
  await page.locator('.monaco-list-row[aria-label^="file tests/test_calc.py"]').click();
  await waitFor('the file diff tab', async () => {
    const t = await activeTabText();
    return /tests\/test_calc\.py \(step add-mean\)/.test(t) || null;
  }, 30_000);
  await page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 30_000 });

  // 6. Show Step Changes (step context menu) → one multi-diff editor with both files.
  await rowContextMenu(step3, 'Show Step Changes');
  const multi = page.locator('.multiDiffEditor, .monaco-multi-diff-editor').first();
  await multi.waitFor({ state: 'visible', timeout: 30_000 });
  await waitFor('the multi-diff to list both files', async () => {
    const t = plain(await multi.innerText());
    return t.includes('calc.py') && t.includes('test_calc.py') ? t : null;
  }, 30_000);
  const activeTab = await activeTabText();
  assert(/changes of step "Add mean\(\)"/.test(activeTab), `multi-diff tab: ${activeTab}`);
  await waitFor('diffs inside the multi-diff editor', async () => (await multi.locator('.monaco-diff-editor').count()) >= 2 || null, 30_000);
  await mouseAway();
  await shot('step-changes');

  // 7. Revert Step → confirm → the files are back to before the step, on disk.
  await rowContextMenu(step3, 'Revert Step');
  await dialog().waitFor({ state: 'visible', timeout: 10_000 });
  assert(/Revert step "Add mean\(\)"\?/.test(await dialog().innerText()), 'revert confirmation');
  await shot('revert-confirm');
  await (await dialogButton('Revert')).click();
  await page.locator('.notification-toast', { hasText: 'Reverted step "add-mean"' }).waitFor({ timeout: 30_000 });
  const after = fs.readFileSync(path.join(ws, 'calculator', 'calc.py'), 'utf8');
  const tests = fs.readFileSync(path.join(ws, 'tests', 'test_calc.py'), 'utf8');
  assert(!after.includes('def mean('), 'calc.py no longer has mean() on disk');
  assert(after.includes('class CalculatorError'), 'earlier steps are kept (CalculatorError stays)');
  assert(!tests.includes('def test_mean'), 'the mean tests are gone from disk');
  await waitFor('step 3 shown as reverted', async () => (await stepLabels()).includes('step 3. Add mean(), reverted') || null, 15_000);
  run(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: ws });
  await mouseAway();
  await shot('reverted');
  // Open Plan Document: the current plan's Markdown, read-only.
  let lastBodies = [];
  await palette('Planloop: Open Plan Document');
  await waitFor('the plan document', async () => {
    const t = await activeTabText();
    if (!t.includes('plan.md')) return null;
    const bodies = await page.locator('.monaco-editor .view-lines').evaluateAll((els) => els.map((e) => e.innerText));
    lastBodies = bodies;
    return bodies.map(plain).find((b) => /# Plan pln_[0-9a-f]{8} v2/.test(b)) ?? null;
  }, 30_000).catch((e) => {
    throw new Error(`${e.message}; editors show: ${JSON.stringify(lastBodies.map((b) => b.slice(0, 120)))}`);
  });
  // the lossless format is long (instructions, expected output, the revision's evidence):
  // find v2's last step in the document, which scrolls it into view
  const doc = page.locator('.editor-group-container.active .monaco-editor').first();
  await doc.locator('.view-lines').first().click();
  await page.keyboard.press('Control+F');
  const findInput = page.locator('.editor-group-container.active .find-widget .find-part textarea, .editor-group-container.active .find-widget .find-part input').first();
  await findInput.waitFor({ state: 'visible', timeout: 10_000 });
  await findInput.fill('Add mean()');
  await page.keyboard.press('Enter');
  await waitFor("v2's step 3 in the plan document", async () => plain(await doc.locator('.view-lines').first().innerText()).includes('**Add mean()**') || null, 15_000);
  await page.close();
}

/** Bad input: the server dies mid-run (waiting on the re-plan); restart shows the saved state. */
const AUTO_GOAL = 'Add square() and cube() to the calculator';

/** A scripted session for auto mode: the planner drafts 2 steps, so one joint loop does both. */
function writeAutoScript(ws) {
  const calc = fs.readFileSync(path.join(ws, 'calculator', 'calc.py'), 'utf8');
  const tool = (name, input) => ({ type: 'tool_use', name, input });
  const step = (id, title, pattern) => ({
    id, title, instructions: title, files: ['calculator/calc.py'],
    acceptance: [{ kind: 'file_contains', path: 'calculator/calc.py', pattern }],
  });
  const extra = '\n\ndef square(x: float) -> float:\n    return x * x\n\n\ndef cube(x: float) -> float:\n    return x * x * x\n';
  const script = {
    planner: [[tool('submit_plan', { goal: AUTO_GOAL, steps: [step('square', 'Add square()', 'def square'), step('cube', 'Add cube()', 'def cube')] })]],
    executor: [
      [tool('write_file', { path: 'calculator/calc.py', content: calc + extra })],
      [tool('report_outcome', { ok: true, summary: 'square() and cube() added in one loop' })],
    ],
  };
  const file = path.join(path.dirname(ws), 'auto.json');
  fs.writeFileSync(file, JSON.stringify(script));
  return `scripted:${file}`;
}

/** mode = auto: a 2-step plan runs as one joint step; the tree shows it, it passes. */
async function autoFlow(browser, ws) {
  page = await openWindow(browser, folderUrl(ws));
  await openPlanView();
  await palette('Planloop: New Plan');
  await waitFor('the goal input box', async () => (await page.locator('.quick-input-widget', { hasText: 'New Plan' }).isVisible()) || null, 15_000);
  await page.locator('.quick-input-widget input.input').fill(AUTO_GOAL);
  await page.keyboard.press('Enter');
  const rows = await waitFor('the tree with the one joint step', async () => {
    const labels = await stepLabels();
    return labels.length === 1 ? labels : null;
  });
  assert(rows[0] === `step 1. joint: ${AUTO_GOAL}, pending`, `joint step row: ${rows[0]}`);
  await shot('auto-joint-plan');
  await palette('Planloop: Run All');
  await waitFor('the joint step passed', async () => {
    const labels = await stepLabels();
    return labels.length === 1 && labels[0].endsWith(', passed') ? labels : null;
  }, 120_000);
  assert(fs.readFileSync(path.join(ws, 'calculator', 'calc.py'), 'utf8').includes('def cube'), 'the joint run wrote calc.py');
  await shot('auto-joint-passed');
  await page.close();
}

/**
 * Edit Plan: the plan document (.planloop/plan.md) opens as an ordinary editable Markdown file
 * the language server serves; a step's title changed there and saved becomes the plan's next
 * version, and the tree shows it. Self-contained: its own folder, window and plan.
 */
async function editPlanFlow(browser, ws) {
  page = await openWindow(browser, folderUrl(ws));
  await openPlanView();
  const before = await newPlan(GOAL);
  assert(before[0] === 'step 1. Add a CalculatorError exception, pending', `first step row: ${before[0]}`);
  const planMd = path.join(ws, '.planloop', 'plan.md');
  await waitFor('.planloop/plan.md on disk', async () => fs.existsSync(planMd) || null, 30_000);
  const old = 'Add a CalculatorError exception';
  const edited = 'Add a CalculatorError exception class';
  const onDisk = fs.readFileSync(planMd, 'utf8');
  assert(onDisk.split(old).length === 2, `the step title occurs once in plan.md:\n${onDisk}`);

  await palette('Planloop: Edit Plan');
  await waitFor('plan.md as an editable editor', async () => {
    const t = await activeTabText();
    return (t.includes('plan.md') && !(await page.locator('.editor-group-container.active .monaco-editor.readonly').count())) || null;
  }, 30_000);
  const editor = page.locator('.editor-group-container.active .monaco-editor').first();
  // the server's code lenses on the step lines: the document is synced to it
  await editor.locator('.codelens-decoration', { hasText: 'Run step' }).first().waitFor({ timeout: 30_000 });

  // Find/Replace in the editor, as a person would: the title only, then save.
  await editor.locator('.view-lines').first().click();
  await page.keyboard.press('Control+H');
  const find = page.locator('.editor-group-container.active .find-widget');
  await find.waitFor({ state: 'visible', timeout: 10_000 });
  await find.locator('.find-part textarea, .find-part input').first().fill(old);
  await find.locator('.replace-part textarea, .replace-part input').first().fill(edited);
  await page.keyboard.press('Control+Alt+Enter'); // replace all
  await page.keyboard.press('Escape');
  await waitFor('the edited title in the editor', async () => plain(await editor.locator('.view-lines').first().innerText()).includes(edited) || null, 10_000);
  await page.keyboard.press('Control+S');

  const rows = await waitFor('the tree shows the edited title', async () => {
    const labels = await stepLabels();
    return labels[0] === `step 1. ${edited}, pending` ? labels : null;
  }, 60_000);
  assert(rows.length === 3, `still three steps: ${rows.join(' | ')}`);
  const goalRow = page.locator('.monaco-list-row[aria-label^="goal "]');
  await waitFor('the goal row shows plan version 2', async () => (await goalRow.getAttribute('aria-label')).includes('plan version 2') || null, 30_000);
  const planDir = fs.readdirSync(path.join(ws, '.planloop', 'plans'))[0];
  const v2 = JSON.parse(fs.readFileSync(path.join(ws, '.planloop', 'plans', planDir, 'v2.json'), 'utf8'));
  assert(v2.steps[0].title === edited, `v2.json has the edited title: ${v2.steps[0].title}`);
  await page.locator('.notification-toast', { hasText: 'saved' }).first().waitFor({ timeout: 30_000 });
  await page.mouse.move(300, 600); // over the empty tree: no tooltip on the toast
  await shot('edit-plan');

  // Bad input while typing: a second step given the first one's id → an error squiggle on
  // that line and in the Problems count, before anything is saved; undone, it clears.
  const text = fs.readFileSync(planMd, 'utf8');
  const ids = [...text.matchAll(/`([a-z0-9][a-z0-9_-]*)`/g)].map((m) => m[1]);
  const [firstId, secondId] = [...new Set(ids.filter((id) => v2.steps.some((st) => st.id === id)))];
  assert(firstId && secondId, `two step ids in plan.md: ${ids.join(', ')}`);
  await editor.locator('.view-lines').first().click();
  await page.keyboard.press('Control+H');
  await find.waitFor({ state: 'visible', timeout: 10_000 });
  await find.locator('.find-part textarea, .find-part input').first().fill(`\`${secondId}\``);
  await find.locator('.replace-part textarea, .replace-part input').first().fill(`\`${firstId}\``);
  await page.keyboard.press('Control+Alt+Enter');
  await find.locator('.codicon-widget-close').first().click();
  const squiggle = editor.locator('.squiggly-error').first();
  await squiggle.waitFor({ timeout: 30_000 });
  await waitFor('one error in the status bar', async () => /\b[1-9]\d*\b/.test(await page.locator('.statusbar-item[id="status.problems"]').first().innerText()) || null, 15_000);
  // hovering the squiggle shows the server's message for that line
  const box = await squiggle.boundingBox();
  await page.mouse.move(box.x + Math.min(40, box.width / 2), box.y + box.height / 2);
  const hover = page.locator('.monaco-hover', { hasText: firstId }).first();
  await hover.waitFor({ state: 'visible', timeout: 15_000 });
  const said = plain(await hover.innerText());
  assert(/duplicate/i.test(said), `the diagnostic names the duplicate id: ${said}`);
  await shot('edit-plan-diagnostic');
  await editor.locator('.view-lines').first().click();
  await page.keyboard.press('Control+Z');
  await waitFor('the diagnostic cleared after undo', async () => (await editor.locator('.squiggly-error').count()) === 0 || null, 30_000);
  await page.close();
}

// --- the planner's clarifying question, answered through the quick pick -----------------------

const QUESTION_GOAL = 'Add a rounding helper to the calculator';
const QUESTION = 'Round half up, or half to even like Python?';

/** A scripted planner that asks (with two options) before it drafts a one-step plan. */
function writeQuestionScript(ws) {
  const tool = (name, input) => ({ type: 'tool_use', name, input });
  const step = {
    id: 'round-to', title: 'Add round_to()', instructions: 'Add round_to(x, digits)', files: ['calculator/calc.py'],
    acceptance: [{ kind: 'file_contains', path: 'calculator/calc.py', pattern: 'def round_to' }],
  };
  const script = {
    planner: [
      [tool('ask_user', { question: QUESTION, options: ['half up', 'half to even'] })],
      [tool('submit_plan', { goal: QUESTION_GOAL, steps: [step] })],
    ],
    executor: [],
  };
  const file = path.join(path.dirname(ws), 'question.json');
  fs.writeFileSync(file, JSON.stringify(script));
  return `scripted:${file}`;
}

/** New Plan → the planner asks → a quick pick of its options → the plan records the answer. */
async function questionFlow(browser, ws) {
  page = await openWindow(browser, folderUrl(ws));
  await openPlanView();
  await palette('Planloop: New Plan');
  await waitFor('the goal input box', async () => (await page.locator('.quick-input-widget', { hasText: 'New Plan' }).isVisible()) || null, 15_000);
  await page.locator('.quick-input-widget input.input').fill(QUESTION_GOAL);
  await page.keyboard.press('Enter');
  const picker = page.locator('.quick-input-widget', { hasText: QUESTION });
  await picker.waitFor({ state: 'visible', timeout: 60_000 });
  const items = await picker.locator('.monaco-list-row').allInnerTexts();
  const labels = items.map((t) => plain(t).trim());
  assert(
    labels.some((l) => l.startsWith('half up')) && labels.some((l) => l.startsWith('half to even')) && labels.some((l) => l.startsWith('Answer in your own words')),
    `the quick pick offers both options and free text: ${JSON.stringify(labels)}`,
  );
  await shot('question-quick-pick');
  await picker.locator('input.input').fill('half to even');
  await picker.locator('.monaco-list-row', { hasText: 'half to even' }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Enter');
  const rows = await waitFor('the plan tree with the one step', async () => {
    const l = await stepLabels();
    return l.length === 1 ? l : null;
  });
  assert(rows[0].startsWith('step 1. Add round_to()'), `step row: ${rows[0]}`);
  const pid = fs.readFileSync(path.join(ws, '.planloop', 'current'), 'utf8').trim();
  const md = fs.readFileSync(path.join(ws, '.planloop', 'plans', pid, 'plan.md'), 'utf8');
  assert(md.includes('## Questions') && md.includes(QUESTION) && md.includes('**A:** half to even'), `plan.md records the answer:\n${md}`);
  assert(!fs.existsSync(path.join(ws, '.planloop', 'question.json')), 'nothing left waiting');
  await mouseAway();
  await shot('question-answered-plan');
  await page.close();
}

async function crashFlow(browser, ws) {
  page = await openWindow(browser, folderUrl(ws));
  await openPlanView();
  await newPlan(GOAL);
  // An unsaved edit in a file the plan touches: Run All asks to save first, never overwrites it.
  await goToFile('calc.py');
  await page.keyboard.press('Enter');
  await page.locator('.monaco-editor .view-lines').first().waitFor({ timeout: 15_000 });
  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('# reviewed by a person');
  await page.locator('.tabs-container .tab.dirty').first().waitFor({ timeout: 10_000 });
  await palette('Planloop: Run All');
  await dialog().waitFor({ state: 'visible', timeout: 30_000 });
  assert(
    /1 file has unsaved changes \(calculator\/calc\.py\)\. planloop never overwrites unsaved editor changes/.test(plain(await dialog().innerText())),
    `unsaved prompt: ${await dialog().innerText()}`,
  );
  await shot('unsaved-prompt');
  await (await dialogButton('Save All')).click();
  await dialog().waitFor({ state: 'visible', timeout: 120_000 });
  assert(/proposes a re-plan \(plan v2\)/.test(await dialog().innerText()), 're-plan dialog after saving');
  assert(fs.readFileSync(path.join(ws, 'calculator', 'calc.py'), 'utf8').includes('# reviewed by a person'), 'the edit was saved, not lost');
  const pid = serverPidFor(ws);
  assert(pid, 'found the language server process of this window');
  process.kill(pid, 'SIGKILL');
  say(`killed the language server (pid ${pid}) mid-run`);
  const crash = page.locator('.notification-toast', { hasText: 'stopped unexpectedly' });
  await crash.waitFor({ timeout: 30_000 });
  await page.keyboard.press('Escape'); // the question died with the server: dismiss it
  await dialog().waitFor({ state: 'hidden', timeout: 10_000 });
  const stale = page.getByText("this is the plan's last known state");
  await stale.waitFor({ timeout: 10_000 });
  await mouseAway();
  await shot('server-crashed');
  await crash.locator('.monaco-button', { hasText: 'Restart Server' }).click();
  await waitFor('a new language server process', async () => {
    const now = serverPidFor(ws);
    return now && now !== pid ? now : null;
  }, 60_000);
  await stale.waitFor({ state: 'hidden', timeout: 60_000 });
  // The restarted server reads the plan from disk: step 1 passed, step 2 failed, the re-plan waiting.
  const pending = page.locator('.monaco-list-row[aria-label^="waiting for you: a re-plan (plan v2)"]');
  await pending.waitFor({ timeout: 60_000 });
  const labels = await stepLabels();
  assert(labels[0] === 'step 1. Add a CalculatorError exception, passed', `after restart: ${labels}`);
  assert(labels[1] === 'step 2. Raise CalculatorError on division by zero, failed', `after restart: ${labels}`);
  await mouseAway();
  await shot('restarted-saved-state');
  // Decide the waiting re-plan from the tree, then continue the run.
  await pending.click();
  await dialog().waitFor({ state: 'visible', timeout: 30_000 });
  await (await dialogButton('Approve')).click();
  const approved = page.locator('.notification-toast', { hasText: 'Approved.' });
  await approved.waitFor({ timeout: 30_000 });
  await approved.locator('.monaco-button', { hasText: 'Run All' }).click();
  await waitAllPassed();
  run(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: ws });
  assert(fs.readFileSync(path.join(ws, 'calculator', 'calc.py'), 'utf8').includes('# reviewed by a person'), "the person's edit survived the run");
  say('after the crash and restart the run finished; the suite passes');
  await mouseAway();
  await shot('resumed-after-crash');
  await page.close();
}

/** Bad input: no folder open; a planloop.python that does not exist. */
async function badInputFlow(browser, wsBadPython) {
  page = await openWindow(browser, `http://127.0.0.1:${port}/?ew=true`);
  await openPlanView();
  await page.locator('.welcome-view-content', { hasText: 'Open a folder' }).waitFor({ timeout: 30_000 });
  await palette('Planloop: New Plan');
  await page.locator('.notification-toast', { hasText: 'planloop works on a folder' }).waitFor({ timeout: 30_000 });
  await mouseAway();
  await shot('no-folder');
  await page.close();

  page = await openWindow(browser, folderUrl(wsBadPython));
  await openPlanView();
  const err = page.locator('.notification-toast', { hasText: 'could not be run' });
  await err.waitFor({ timeout: 60_000 });
  assert(
    /planloop needs Python 3\.10 or later, and "\/nonexistent\/python3" \(the planloop\.python setting\) could not be run: not found/.test(plain(await err.innerText())),
    `no-python message: ${await err.innerText()}`,
  );
  await page.locator('.welcome-view-content', { hasText: 'not running' }).waitFor({ timeout: 30_000 });
  await mouseAway();
  await shot('no-python');
  await err.locator('.monaco-button', { hasText: 'Open Settings' }).click();
  await page.locator('.settings-editor').waitFor({ timeout: 30_000 });
  // The settings editor, on the Workspace tab, at planloop.python with the bad value in its box.
  await waitFor('the planloop.python setting in the settings editor', async () => {
    const t = await page.locator('.settings-editor').innerText();
    const values = await page.locator('.settings-editor .setting-item-contents input').evaluateAll((els) => els.map((e) => e.value));
    return /Planloop: Python/i.test(plain(t)) && values.includes('/nonexistent/python3') ? t : null;
  }, 30_000);
  await mouseAway();
  await shot('no-python-settings');
  await page.close();
}

/**
 * A Python ≥ 3.10 without planloop, as on a machine that never installed it: a fresh venv.
 * Without pip (faster): the extension needs only the venv and ensurepip modules of the base.
 */
function makeBarePython(dir) {
  const base = process.env.PLANLOOP_E2E_BASE_PYTHON || 'python3';
  // The caller's PATH, not ENV's (that puts the planloop dev venv first).
  const env = { ...ENV, PATH: process.env.PATH };
  execFileSync(base, ['-m', 'venv', '--without-pip', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const python = path.join(dir, 'bin', 'python');
  const version = run(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { cwd: dir }).trim();
  const [major, minor] = version.split('.').map(Number);
  assert(major > 3 || (major === 3 && minor >= 10), `the bare Python is 3.10+ (it is ${version}; set PLANLOOP_E2E_BASE_PYTHON)`);
  assert(!importsPlanloop(python), `planloop must not be importable in the bare venv ${dir}`);
  say(`bare Python ${version} without planloop: ${python}`);
  return { python, version };
}

/** Where `python` imports planloop from, or '' when it cannot (cwd outside the repo: only its own site). */
function importsPlanloop(python) {
  try {
    return run(python, ['-c', 'import planloop.lsp, planloop; print(planloop.__file__)'], { cwd: os.tmpdir() }).trim();
  } catch {
    return '';
  }
}

/**
 * First run: planloop.python is a Python without planloop → the extension builds its private
 * venv in global storage from the vsix's wheel (progress notification), the server starts in it.
 */
async function firstRunFlow(browser, ws, bare, userDir) {
  const storage = path.join(userDir, 'User', 'globalStorage', 'planloop.planloop');
  const venv = path.join(storage, `venv-py${bare.version}`);
  const venvPy = path.join(venv, 'bin', 'python');
  assert(!fs.existsSync(venv), `no private venv before the first run (${venv})`);
  const since = Date.now();
  page = await openWindow(browser, folderUrl(ws));
  await openPlanView();
  const toast = page.locator('.notification-toast', { hasText: 'setting up its Python environment' });
  await toast.waitFor({ timeout: 60_000 });
  const failed = page.locator('.notification-toast', { hasText: /could not (create|install)|could not be run|did not start/ });
  const seen = new Set();
  const installing = await waitFor('the "installing the wheel" progress message', async () => {
    if (await failed.count()) throw new Error(`setting up failed: ${plain(await failed.first().innerText())}`);
    const t = plain(await toast.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    if (t) seen.add(t);
    return /installing planloop-[\d.]+-py3-none-any\.whl and its dependencies/.test(t) ? t : null;
  }, 180_000);
  assert(/planloop: setting up its Python environment/.test(installing), `progress title: ${installing}`);
  say(`progress notification: ${[...seen].join(' → ')}`);
  // Expand it, so the screenshot shows the whole message (the toast is one line wide).
  await toast.hover();
  await toast.locator('.action-label[aria-label^="Expand"]').click({ timeout: 5_000 }).catch(() => undefined);
  await mouseAway();
  await shot('first-run-install');
  // pip fetches pygls, pydantic, anthropic, gitpython, rich from PyPI: minutes on a loaded machine.
  await waitFor('the private venv to be installed', async () => {
    if (await failed.count()) throw new Error(`setting up failed: ${plain(await failed.first().innerText())}`);
    // Done = the notification closed and the marker written after pip succeeded.
    return ((await toast.count()) === 0 && fs.existsSync(path.join(venv, 'planloop-wheel.txt'))) || null;
  }, 600_000, 1000);
  say(`private venv installed in ${((Date.now() - since) / 1000).toFixed(0)} s`);

  // On disk: the venv in global storage, planloop importable there from its own site-packages.
  assert(fs.existsSync(venvPy), `the private venv's python exists: ${venvPy}`);
  const where = importsPlanloop(venvPy);
  assert(where && fs.realpathSync(where).startsWith(fs.realpathSync(venv)), `planloop imports from the private venv: ${where || 'import failed'}`);
  assert(/^planloop-[\d.]+-py3-none-any\.whl$/.test(fs.readFileSync(path.join(venv, 'planloop-wheel.txt'), 'utf8').trim()), 'the wheel marker');
  assert(!importsPlanloop(bare.python), "nothing was installed into the user's own Python");

  // The server runs from the private venv, and New Plan works.
  const v1 = await newPlan(GOAL);
  assert(v1[0] === 'step 1. Add a CalculatorError exception, pending', `first step row: ${v1[0]}`);
  assert(v1.every((l) => l.endsWith(', pending')), `all steps pending: ${v1.join(' | ')}`);
  const pid = serverPidFor(ws);
  assert(pid, 'found the language server process of this window');
  const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  assert(argv0 === venvPy, `the server runs with the private venv's python: ${argv0}`);
  await page.close();
}

async function scenario(workspaces, bare, tmp) {
  // The browser's profile, crash database and caches stay in the temp folder, not in ~/.config.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: BROWSER_ARGS,
    env: { ...ENV, HOME: path.join(tmp, 'home'), XDG_CONFIG_HOME: path.join(tmp, 'xdg'), XDG_CACHE_HOME: path.join(tmp, 'cache') },
  });
  try {
    if (ONLY.has('main')) {
      await mainFlow(browser, workspaces.main);
      say('main flow passed');
    }
    if (ONLY.has('auto')) {
      await autoFlow(browser, workspaces.auto);
      say('auto-mode flow passed');
    }
    if (ONLY.has('editplan')) {
      await editPlanFlow(browser, workspaces.editPlan);
      say('edit-plan flow passed');
    }
    if (ONLY.has('question')) {
      await questionFlow(browser, workspaces.question);
      say('question flow passed');
    }
    if (ONLY.has('crash')) await crashFlow(browser, workspaces.crash);
    if (ONLY.has('bad')) await badInputFlow(browser, workspaces.badPython);
    if (ONLY.has('firstrun')) {
      await firstRunFlow(browser, workspaces.firstRun, bare, path.join(tmp, 'user'));
      say('first-run flow passed');
    }
    if (consoleErrors.length) say(`browser console errors (informational): ${consoleErrors.length}`);
  } catch (e) {
    await page?.screenshot({ path: path.join(ARTIFACTS, 'failure.png') }).catch(() => undefined);
    console.error(`failure screenshot: ${path.join(ARTIFACTS, 'failure.png')}`);
    throw e;
  } finally {
    await browser.close().catch(() => undefined);
  }
}

// --- main --------------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) if (f.endsWith('.png')) fs.rmSync(path.join(ARTIFACTS, f));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'planloop-e2e-'));
  const workspaces = {
    main: path.join(tmp, 'calculator'),
    auto: path.join(tmp, 'auto', 'calculator'),
    editPlan: path.join(tmp, 'edit-plan', 'calculator'),
    question: path.join(tmp, 'question', 'calculator'),
    crash: path.join(tmp, 'crash', 'calculator'),
    badPython: path.join(tmp, 'no-python', 'calculator'),
    firstRun: path.join(tmp, 'first-run', 'calculator'),
  };
  let ok = false;
  let bare;
  try {
    if (ONLY.has('firstrun')) bare = makeBarePython(path.join(tmp, 'bare-py'));
    const vsix = buildVsix();
    say(`vsix ${path.relative(REPO, vsix)}`);
    copyWorkspace(workspaces.main);
    copyWorkspace(workspaces.crash);
    if (ONLY.has('editplan')) copyWorkspace(workspaces.editPlan);
    if (ONLY.has('auto')) {
      copyWorkspace(workspaces.auto);
      const spec = writeAutoScript(workspaces.auto);
      copyWorkspace(workspaces.auto, { 'planloop.planner': spec, 'planloop.executor': spec, 'planloop.mode': 'auto' });
    }
    if (ONLY.has('question')) {
      copyWorkspace(workspaces.question);
      const spec = writeQuestionScript(workspaces.question);
      copyWorkspace(workspaces.question, { 'planloop.planner': spec, 'planloop.executor': spec });
    }
    copyWorkspace(workspaces.badPython, { 'planloop.python': '/nonexistent/python3' });
    if (bare) copyWorkspace(workspaces.firstRun, { 'planloop.python': bare.python });
    writeUserSettings(path.join(tmp, 'user'));
    run('code-server', ['--install-extension', vsix, '--user-data-dir', path.join(tmp, 'user'), '--extensions-dir', path.join(tmp, 'ext')], {
      env: { ...ENV, XDG_CONFIG_HOME: path.join(tmp, 'xdg'), XDG_DATA_HOME: path.join(tmp, 'xdg-data'), XDG_CACHE_HOME: path.join(tmp, 'cache') },
    });
    say('extension installed into a fresh code-server');
    port = await freePort();
    await startCodeServer(tmp, workspaces.main, port);
    say(`code-server on 127.0.0.1:${port}`);
    await scenario(workspaces, bare, tmp);
    ok = true;
  } catch (e) {
    console.error(`e2e FAILED: ${e.stack || e}`);
  } finally {
    await stopAll();
    // Keep the logs that explain a run (code-server's and the extension host's, incl. planloop's).
    const logs = path.join(ARTIFACTS, 'logs');
    fs.rmSync(logs, { recursive: true, force: true });
    fs.mkdirSync(logs, { recursive: true });
    try {
      fs.copyFileSync(path.join(tmp, 'code-server.log'), path.join(logs, 'code-server.log'));
      fs.cpSync(path.join(tmp, 'user', 'logs'), path.join(logs, 'vscode'), { recursive: true });
    } catch {
      // no logs yet (failed before code-server started)
    }
    if (process.env.PLANLOOP_E2E_KEEP === '1') say(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  const leftover = [...everyPid].filter(alive);
  if (leftover.length) {
    console.error(`e2e: processes still alive after cleanup: ${leftover.join(', ')}`);
    ok = false;
  }
  say(ok ? `PASSED (${shots.length} screenshots in ${path.relative(REPO, ARTIFACTS)})` : 'FAILED');
  process.exit(ok ? 0 : 1);
}

await main();
