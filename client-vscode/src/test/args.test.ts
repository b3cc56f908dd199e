// The argument object of every server command, as it goes on the wire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ArgumentError,
  approvePauseArgs,
  cancelArgs,
  createPlanArgs,
  decidePendingArgs,
  decideRevisionArgs,
  fileAtCheckpointArgs,
  getPlanArgs,
  replanArgs,
  revertStepArgs,
  runAllArgs,
  runStepArgs,
  stepDiffArgs,
  stepIdFromCommandArg,
} from '../args';

const wire = (p: unknown) => JSON.parse(JSON.stringify(p));

test('one camelCase object per command', () => {
  assert.deepEqual(wire(createPlanArgs('  add subtract  ')), {
    command: 'planloop.createPlan',
    arguments: [{ goal: 'add subtract' }],
  });
  assert.deepEqual(wire(getPlanArgs()), { command: 'planloop.getPlan', arguments: [{}] });
  assert.deepEqual(wire(runStepArgs('s1')), { command: 'planloop.runStep', arguments: [{ stepId: 's1' }] });
  assert.deepEqual(wire(runStepArgs()), { command: 'planloop.runStep', arguments: [{}] });
  assert.deepEqual(wire(runAllArgs()), { command: 'planloop.runAll', arguments: [{}] });
  assert.deepEqual(wire(stepDiffArgs('s1')), { command: 'planloop.stepDiff', arguments: [{ stepId: 's1' }] });
  assert.deepEqual(wire(fileAtCheckpointArgs('abc', 'src/a.py')), {
    command: 'planloop.fileAtCheckpoint',
    arguments: [{ checkpoint: 'abc', path: 'src/a.py' }],
  });
  assert.deepEqual(wire(revertStepArgs('s1')), { command: 'planloop.revertStep', arguments: [{ stepId: 's1' }] });
  assert.deepEqual(wire(revertStepArgs('s1', ['a.py'])), {
    command: 'planloop.revertStep',
    arguments: [{ stepId: 's1', paths: ['a.py'] }],
  });
  assert.deepEqual(wire(decideRevisionArgs(3, false, ' keep the API ')), {
    command: 'planloop.decideRevision',
    arguments: [{ version: 3, approve: false, feedback: 'keep the API' }],
  });
  assert.deepEqual(wire(approvePauseArgs('review')), {
    command: 'planloop.approvePause',
    arguments: [{ stepId: 'review' }],
  });
  assert.deepEqual(wire(decidePendingArgs(false, ' not now ')), {
    command: 'planloop.decidePending',
    arguments: [{ approve: false, feedback: 'not now' }],
  });
  assert.deepEqual(wire(decidePendingArgs(true)), {
    command: 'planloop.decidePending',
    arguments: [{ approve: true }],
  });
  assert.deepEqual(wire(cancelArgs()), { command: 'planloop.cancel', arguments: [{}] });
});

test('optional fields are absent, not null or empty (the server is strict about keys)', () => {
  const a = replanArgs('  ', undefined).arguments[0];
  assert.deepEqual(Object.keys(a), []);
  assert.deepEqual(replanArgs('tests live in tests/').arguments[0], { reason: 'tests live in tests/' });
  assert.deepEqual(decideRevisionArgs(2, true, '').arguments[0], { version: 2, approve: true });
  assert.deepEqual(revertStepArgs('s', []).arguments[0], { stepId: 's' });
});

test('bad input: an empty goal is refused before it reaches the server', () => {
  assert.throws(() => createPlanArgs('   '), ArgumentError);
  assert.throws(() => createPlanArgs(undefined), /needs a goal/);
});

test('bad input: commands that need a step say so', () => {
  assert.throws(() => stepDiffArgs(undefined), /Show Step Changes needs a step/);
  assert.throws(() => revertStepArgs(''), /Revert Step needs a step/);
  assert.throws(() => approvePauseArgs(undefined), ArgumentError);
});

test('bad input: deciding a revision without a proposed version', () => {
  assert.throws(() => decideRevisionArgs(undefined, true), /no proposed plan version/);
  assert.throws(() => decideRevisionArgs(0, true), ArgumentError);
  assert.throws(() => decideRevisionArgs(1.5, true), ArgumentError);
});

test('bad input: fileAtCheckpoint without a checkpoint or path', () => {
  assert.throws(() => fileAtCheckpointArgs('', 'a.py'), ArgumentError);
  assert.throws(() => fileAtCheckpointArgs('abc', ''), ArgumentError);
});

test('the step a command applies to: tree node, plain id, or none from the palette', () => {
  assert.equal(stepIdFromCommandArg({ stepId: 'add', kind: 'step' }), 'add');
  assert.equal(stepIdFromCommandArg('add'), 'add');
  assert.equal(stepIdFromCommandArg(undefined), undefined);
  assert.equal(stepIdFromCommandArg({ id: 'plan' }), undefined);
  assert.equal(stepIdFromCommandArg({ stepId: 7 }), undefined);
});
