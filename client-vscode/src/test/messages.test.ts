// Notification wording, the unsaved-files rule and which settings reach the server.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  affectsServer,
  explicitServerSettings,
  type InspectLike,
  revertMessage,
  runOutcomeMessage,
  unsavedFilesInScope,
  unsavedPrompt,
} from '../messages';
import type { PlanPayload, RunPayload } from '../protocol';
import fixture from './fixtures/payload.json';

const plan = () => structuredClone(fixture) as unknown as PlanPayload;

test('run outcomes: done, waiting, stopped, cancelled, error', () => {
  const run = (state: RunPayload['state'], reason = '', stepId?: string): RunPayload => ({ state, reason, stepId, plan: plan() });
  assert.deepEqual(runOutcomeMessage(run('done', 'every step passed')), {
    severity: 'info',
    text: 'planloop: every step passed (1/3 steps, $0.02).',
  });
  assert.match(runOutcomeMessage(run('awaiting_approval', 're-plan v3 awaits approval')).text, /waiting for your decision: re-plan v3 awaits approval\. Use "Review Pending Decision"/);
  assert.equal(runOutcomeMessage(run('stopped', 're-plan budget (3) exhausted')).severity, 'warning');
  assert.equal(runOutcomeMessage(run('cancelled')).text, 'planloop: run cancelled (1/3 steps, $0.02).');
  assert.deepEqual(runOutcomeMessage(run('error', ': planning failed')).severity, 'error');
  assert.equal(
    runOutcomeMessage(run('idle', 'step finished', 'add-multiply')).text,
    'planloop: step "Add multiply" failed: step finished (1/3 steps, $0.02).',
  );
  assert.equal(runOutcomeMessage(run('idle', 'step finished', 'add-subtract')).severity, 'info');
});

test('revert reports restored files and conflicts by name', () => {
  assert.deepEqual(revertMessage({ stepId: 's', restored: ['a.py'], conflicts: [], plan: plan() }), {
    severity: 'info',
    text: 'Reverted step "s": restored 1 file (a.py).',
  });
  const m = revertMessage({ stepId: 's', restored: [], conflicts: [{ path: 'b.py', reason: 'changed since the step' }], plan: plan() });
  assert.equal(m.severity, 'warning');
  assert.match(m.text, /nothing was restored\. Not restored because they changed since the step: b\.py \(changed since the step\)\./);
});

test('unsaved files inside the workspace only, relative and sorted', () => {
  const root = path.resolve('/work/ws');
  const dirty = [path.join(root, 'src/b.py'), path.join(root, 'a.py'), path.resolve('/elsewhere/c.py'), path.join(root, '..', 'ws2', 'd.py')];
  assert.deepEqual(unsavedFilesInScope(dirty, root), ['a.py', 'src/b.py']);
});

test('unsaved files limited to the files a step lists', () => {
  const root = path.resolve('/work/ws');
  const dirty = [path.join(root, 'src/b.py'), path.join(root, 'a.py')];
  assert.deepEqual(unsavedFilesInScope(dirty, root, ['./src/b.py']), ['src/b.py']);
  assert.deepEqual(unsavedFilesInScope(dirty, root, []), []);
});

test('the unsaved prompt names the files and what to do', () => {
  assert.equal(
    unsavedPrompt(['a.py']),
    '1 file has unsaved changes (a.py). planloop never overwrites unsaved editor changes: save them first, or cancel.',
  );
  assert.match(unsavedPrompt(['1', '2', '3', '4', '5', '6', '7']), /^7 files have unsaved changes \(1, 2, 3, 4, 5 and 2 more\)/);
});

test('only settings the user set reach the server, nested like planloop.toml', () => {
  const values: Record<string, InspectLike> = {
    planner: { globalValue: 'anthropic:claude-opus-4-1', workspaceValue: ' scripted:/x/demo.json ' },
    executor: { globalValue: '' },
    'budgets.replans': { workspaceFolderValue: 1, globalValue: 5 },
    'budgets.usd': {},
    'commandPolicy.deny': { globalValue: ['rm -rf*'] },
    reviewPlanFirst: { workspaceValue: false },
  };
  assert.deepEqual(explicitServerSettings((k) => values[k]), {
    planner: 'scripted:/x/demo.json',
    budgets: { replans: 1 },
    commandPolicy: { deny: ['rm -rf*'] },
    reviewPlanFirst: false,
  });
  assert.deepEqual(explicitServerSettings(() => undefined), {}, 'defaults are never sent: planloop.toml decides');
});

test('a python change needs a restart; other planloop settings a notification', () => {
  assert.equal(affectsServer((s) => s === 'planloop.python' || s === 'planloop'), 'restart');
  assert.equal(affectsServer((s) => s === 'planloop'), 'notify');
  assert.equal(affectsServer(() => false), 'none');
});
