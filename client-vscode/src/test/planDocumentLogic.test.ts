// The plan document: which file it is, who syncs it, and what its code lenses run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dirtySyncScope } from '../bufferLogic';
import {
  editPlanProblem,
  isFolderPlanDocument,
  isPlanDocument,
  lensCommand,
  PLAN_DOCUMENT,
  PLAN_DOCUMENT_SELECTOR,
} from '../planDocumentLogic';

test('the plan document is .planloop/plan.md of a folder, nothing near it', () => {
  assert.equal(isPlanDocument('/home/u/proj/.planloop/plan.md'), true);
  assert.equal(isPlanDocument('C:\\work\\proj\\.planloop\\plan.md'), true);
  assert.equal(isPlanDocument('/home/u/proj/plan.md'), false);
  assert.equal(isPlanDocument('/home/u/proj/.planloop/plans/pln_1/plan.md'), false);
  assert.equal(isPlanDocument('/home/u/proj/x.planloop/plan.md'), false);
  assert.equal(isPlanDocument('/home/u/proj/.planloop/plan.md.bak'), false);
});

test("a folder's own plan document, with or without a trailing slash", () => {
  assert.equal(isFolderPlanDocument('/home/u/proj', '/home/u/proj/.planloop/plan.md'), true);
  assert.equal(isFolderPlanDocument('/home/u/proj/', '/home/u/proj/.planloop/plan.md'), true);
  assert.equal(isFolderPlanDocument('/home/u/proj', '/home/u/proj/sub/.planloop/plan.md'), false);
  assert.equal(isFolderPlanDocument('/home/u/proj', '/home/u/project/.planloop/plan.md'), false);
});

test('the language client syncs plan documents by path, whatever their language', () => {
  assert.deepEqual(PLAN_DOCUMENT_SELECTOR, [{ scheme: 'file', pattern: `**/${PLAN_DOCUMENT}` }]);
  assert.ok(!('language' in PLAN_DOCUMENT_SELECTOR[0]));
});

test('a plan document stays out of the dirty-buffer sync (the server would hear it twice)', () => {
  assert.equal(dirtySyncScope('file', '/p', '/p/.planloop/plan.md'), false);
  assert.equal(dirtySyncScope('file', '/p/', '/p/src/a.ts'), true);
  assert.equal(dirtySyncScope('file', '/p', '/q/src/a.ts'), false, 'outside the folder');
  assert.equal(dirtySyncScope('untitled', '/p', '/p/a.ts'), false);
});

test("code lenses run the tree's commands, with the step they name", () => {
  assert.equal(lensCommand('planloop.runStep'), 'planloop.ui.runStep');
  assert.equal(lensCommand('planloop.stepDiff'), 'planloop.ui.showStepChanges');
  assert.equal(lensCommand('planloop.revertStep'), 'planloop.ui.revertStep');
  assert.equal(lensCommand(''), undefined, 'a label-only lens ("running…") stays as it is');
  assert.equal(lensCommand('planloop.runAll'), undefined);
});

test('Edit Plan says what is missing', () => {
  assert.match(editPlanProblem(false, false, false) ?? '', /open one first/);
  assert.match(editPlanProblem(true, false, false) ?? '', /New Plan/);
  assert.match(editPlanProblem(true, true, false) ?? '', /\.planloop\/plan\.md is missing/);
  assert.equal(editPlanProblem(true, true, true), undefined);
});
