// The window's plan state that every UI part renders from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlanState } from '../planState';
import type { PlanPayload } from '../protocol';
import fixture from './fixtures/payload.json';

const payload = () => structuredClone(fixture) as unknown as PlanPayload;

test('apply and notify; null clears the plan', () => {
  const s = new PlanState();
  let n = 0;
  s.onChange(() => n++);
  s.apply(payload());
  assert.ok(s.hasPlan);
  s.apply(null);
  assert.ok(!s.hasPlan);
  s.apply(undefined);
  assert.equal(n, 2, 'undefined (no answer) changes nothing');
});

test('live lines follow step events and vanish when the step stops running', () => {
  const s = new PlanState();
  const p = payload();
  p.plan.steps[2].status = 'running';
  s.apply(p);
  s.stepEvent({ planId: 'pln_0123abcd', stepId: 'docs', event: 'tool', line: 'read_file README.md' });
  assert.equal(s.liveLines.docs, 'read_file README.md');
  p.plan.steps[2].status = 'passed';
  s.apply(structuredClone(p));
  assert.equal(s.liveLines.docs, undefined);
  s.stepEvent({ planId: 'pln_0123abcd', stepId: 'docs', event: 'tool', line: 'x' });
  s.stepEvent({ planId: 'pln_0123abcd', stepId: 'docs', event: 'finished', line: 'docs passed' });
  assert.equal(s.liveLines.docs, undefined);
});

test('busy while a command runs, also when it fails', async () => {
  const s = new PlanState();
  const seen: boolean[] = [];
  s.onChange(() => seen.push(s.busy));
  await s.track(async () => assert.ok(s.busy));
  await assert.rejects(s.track(async () => {
    throw new Error('server gone');
  }));
  assert.ok(!s.busy);
  assert.deepEqual(seen, [true, false, true, false]);
});
