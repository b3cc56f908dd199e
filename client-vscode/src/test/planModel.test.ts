// The Plan view's content, from a payload shaped exactly like the server's (fixture generated
// from planloop.plan models with model_dump(mode="json")).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildTree,
  checkLabel,
  formatUsd,
  nextRunnableStep,
  runCost,
  statusBarText,
  stepCost,
  statusIcon,
  stepContextValue,
  stepFiles,
  type PlanNode,
} from '../planModel';
import type { PlanPayload, StepStatus } from '../protocol';
import fixture from './fixtures/payload.json';

const payload = () => structuredClone(fixture) as unknown as PlanPayload;

function find(nodes: PlanNode[], id: string): PlanNode {
  for (const n of nodes) {
    if (n.id === id) return n;
    const inner = n.children.length ? findOrUndef(n.children, id) : undefined;
    if (inner) return inner;
  }
  throw new Error(`no node ${id}`);
}
function findOrUndef(nodes: PlanNode[], id: string): PlanNode | undefined {
  try {
    return find(nodes, id);
  } catch {
    return undefined;
  }
}

test('no plan gives an empty tree, so the welcome view (New Plan) shows', () => {
  assert.deepEqual(buildTree(null), []);
  assert.deepEqual(buildTree(undefined), []);
});

test('goal row on top with version, state and cost', () => {
  const roots = buildTree(payload());
  assert.equal(roots[0].id, 'plan');
  assert.equal(roots[0].label, 'Add subtract and multiply to the calculator');
  assert.equal(roots[0].description, 'v2 · awaiting approval · $0.02');
  assert.match(roots[0].tooltip ?? '', /Revision \(repeated_failure\): multiply failed twice/);
});

test('a pending re-plan is a clickable row that opens the review', () => {
  const roots = buildTree(payload());
  const pending = find(roots, 'pending');
  assert.equal(pending.action, 'reviewPending');
  assert.equal(pending.label, 'waiting for you: a re-plan (plan v3)');
  assert.match(pending.tooltip ?? '', /• calc.py contains/);
  const none = payload();
  none.pending = null;
  assert.equal(findOrUndef(buildTree(none), 'pending'), undefined);
});

test('one row per step with stable ids, numbered titles and status icons', () => {
  const steps = buildTree(payload()).filter((n) => n.kind === 'step');
  assert.deepEqual(
    steps.map((s) => [s.id, s.label, s.icon?.id]),
    [
      ['step:add-subtract', '1. Add subtract', 'pass-filled'],
      ['step:add-multiply', '2. Add multiply', 'error'],
      ['step:docs', '3. Document it', 'circle-large-outline'],
    ],
  );
  assert.equal(steps[1].description, 'failed · attempt 2');
  assert.equal(steps[1].accessibilityLabel, 'step 2. Add multiply, failed');
  assert.equal(steps[1].collapsible, 'expanded', 'a failed step opens to show why');
  assert.equal(steps[0].collapsible, 'collapsed');
});

test('ids survive a refresh (same payload twice gives the same ids)', () => {
  const ids = (ns: PlanNode[]): string[] => ns.flatMap((n) => [n.id, ...ids(n.children)]);
  assert.deepEqual(ids(buildTree(payload())), ids(buildTree(payload())));
  assert.equal(new Set(ids(buildTree(payload()))).size, ids(buildTree(payload())).length, 'ids are unique');
});

test('check rows: ✓/✗ with the condensed observation as tooltip', () => {
  const roots = buildTree(payload());
  const ok = find(roots, 'step:add-subtract/check:0');
  assert.equal(ok.icon?.id, 'check');
  assert.equal(ok.label, '`python -m pytest -q tests/test_calc.py` exits 0');
  assert.match(ok.tooltip ?? '', /^✓ .*\n\n3 passed in 0.01s$/);
  const ws = find(roots, 'step:add-subtract/check:1');
  assert.match(ws.description ?? '', /^workspace check · 5 passed$/);
  const bad = find(roots, 'step:add-multiply/check:0');
  assert.equal(bad.icon?.id, 'close');
  assert.equal(bad.icon?.color, 'testing.iconFailed');
  assert.equal(bad.description, 'pattern not found', 'first line only in the row');
  assert.match(bad.tooltip ?? '', /second line/, 'all of it in the tooltip');
  assert.match(bad.accessibilityLabel, /^check calc.py contains \/def multiply\/ failed/);
});

test('steps that have not run list their planned checks as not run', () => {
  const c = find(buildTree(payload()), 'step:docs/check:0');
  assert.equal(c.label, 'README.md exists');
  assert.equal(c.description, 'not run yet');
});

test('changed files are rows that open their diff, then the cost row', () => {
  const step = find(buildTree(payload()), 'step:add-subtract');
  const kinds = step.children.map((c) => c.id);
  assert.deepEqual(kinds, [
    'step:add-subtract/check:0',
    'step:add-subtract/check:1',
    'step:add-subtract/file:calc.py',
    'step:add-subtract/file:tests/test_sub.py',
    'step:add-subtract/cost',
  ]);
  const f = find(step.children, 'step:add-subtract/file:tests/test_sub.py');
  assert.equal(f.action, 'openFileDiff');
  assert.equal(f.filePath, 'tests/test_sub.py');
  assert.equal(f.description, 'added · +5 −0');
  const cost = find(step.children, 'step:add-subtract/cost');
  assert.equal(cost.label, '$0.01');
  assert.equal(cost.description, '4.2 s');
});

test('context values drive the menus: changes, runnable, awaiting', () => {
  const p = payload();
  assert.equal(stepContextValue(p.plan.steps[0]), 'step;status=passed;changes');
  assert.equal(stepContextValue(p.plan.steps[1]), 'step;status=failed;runnable');
  p.plan.steps[0].status = 'reverted';
  assert.equal(stepContextValue(p.plan.steps[0]), 'step;status=reverted;runnable', 'a reverted step has nothing left to revert');
  p.plan.steps[2].status = 'awaiting_approval';
  assert.match(stepContextValue(p.plan.steps[2]), /;awaiting$/);
  // the menu regexes in package.json
  assert.match('step;status=passed;changes', /^step;.*;changes/);
  assert.doesNotMatch('step;status=failed;runnable', /^step;.*;changes/);
});

test('running steps spin and show the latest tool line', () => {
  const p = payload();
  p.plan.steps[2].status = 'running';
  const n = find(buildTree(p, { docs: 'edit_file README.md' }), 'step:docs');
  assert.equal(n.icon?.id, 'sync~spin');
  assert.equal(n.description, 'running · edit_file README.md');
});

test('every status has an icon', () => {
  const all: StepStatus[] = ['pending', 'running', 'passed', 'failed', 'blocked', 'skipped', 'awaiting_approval', 'reverted'];
  const icons = all.map((s) => statusIcon(s).id);
  assert.equal(new Set(icons).size, all.length, 'distinct icons per status');
});

test('check labels match plan.py Check.label()', () => {
  assert.equal(checkLabel({ kind: 'command', command: 'pytest -q' }), '`pytest -q` exits 0');
  assert.equal(checkLabel({ kind: 'file_exists', path: 'a.py' }), 'a.py exists');
  assert.equal(checkLabel({ kind: 'file_contains', path: 'a.py', pattern: 'x+' }), 'a.py contains /x+/');
  assert.equal(checkLabel({ kind: 'command', command: 'x', description: 'tests pass' }), 'tests pass');
});

test('status bar text: planloop 1/3 · $0.02, spinner when busy', () => {
  const p = payload();
  p.pending = null;
  assert.equal(statusBarText(p, false), 'planloop 1/3 · $0.02');
  assert.equal(statusBarText(p, true), '$(sync~spin) planloop 1/3 · $0.02');
  assert.equal(statusBarText(null, false), 'planloop');
  assert.match(statusBarText(payload(), false), /\$\(bell-dot\)$/, 'a pending decision is flagged');
});

test('dollar formatting', () => {
  assert.equal(formatUsd(0), '$0.00');
  assert.equal(formatUsd(0.14), '$0.14');
  assert.equal(formatUsd(0.0012), '$0.0012');
  assert.equal(formatUsd(Number.NaN), '$0.00');
});

test('step files for the unsaved-files prompt: planned and changed, once each', () => {
  assert.deepEqual(stepFiles(payload(), 'add-subtract'), ['calc.py', 'tests/test_sub.py']);
  assert.deepEqual(stepFiles(payload(), 'nope'), []);
});

test('next runnable step mirrors plan.py next_runnable', () => {
  assert.equal(nextRunnableStep(payload())?.id, 'add-multiply');
  const p = payload();
  p.plan.steps[1].status = 'passed';
  assert.equal(nextRunnableStep(p)?.id, 'docs');
  p.plan.steps[2].status = 'passed';
  assert.equal(nextRunnableStep(p), undefined);
});

test('an unpriced model never shows $0.00: tokens and "cost unknown" in tree, status bar, step', () => {
  const p = payload();
  p.costUsd = 0;
  p.costKnown = false;
  p.costText = '48,210 tokens, cost unknown';
  assert.equal(runCost(p), '48,210 tokens, cost unknown');
  assert.match(statusBarText(p, false), /48,210 tokens, cost unknown/);
  assert.doesNotMatch(statusBarText(p, false), /\$0\.00/);
  const goal = find(buildTree(p), 'plan');
  assert.match(goal.description ?? '', /cost unknown/);

  const local = { calls: 3, unpriced_calls: 3, unpriced_tokens: 12345 };
  assert.equal(stepCost({ cost_usd: 0, usage: { executor: local } }), '12,345 tokens, cost unknown');
  const mixed = { planner: { calls: 1, unpriced_calls: 0 }, executor: local };
  assert.equal(stepCost({ cost_usd: 0.25, usage: mixed }), '$0.25 + 12,345 tokens, cost unknown');
  // priced (or stored before unpriced calls were counted): dollars as before
  assert.equal(stepCost({ cost_usd: 0.0123, usage: {} }), '$0.01');
  p.plan.steps[0].result!.usage = { executor: local };
  assert.equal(find(buildTree(p), `step:${p.plan.steps[0].id}/cost`).label, '12,345 tokens, cost unknown');
});

test('a priced run shows dollars even when the server sends costText', () => {
  const p = payload();
  assert.equal(runCost(p), formatUsd(p.costUsd));
});
