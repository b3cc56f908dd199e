// The approval conversation with a scripted person: what is asked, what goes back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  APPROVE,
  approvalPrompt,
  type ApprovalPrompt,
  type ApprovalUi,
  parseApprovalRequest,
  REJECT,
  REVIEW,
  runApprovalDialog,
} from '../approvalFlow';
import type { ApprovalRequest } from '../protocol';

const revision: ApprovalRequest = {
  kind: 'revision',
  planId: 'pln_0123abcd',
  version: 2,
  stepId: 'add-multiply',
  reason: 'multiply failed twice',
  evidence: ['calc.py contains /def multiply/: pattern not found', ''],
  currentMarkdown: '# Plan v1',
  proposedMarkdown: '# Plan v2',
};

/** A person who clicks `choices` in order and types `feedback` when asked. */
function person(choices: (string | undefined)[], feedback: (string | undefined)[] = []) {
  const asked: ApprovalPrompt[] = [];
  const reviewed: ApprovalRequest[] = [];
  const ui: ApprovalUi = {
    ask: async (p) => {
      asked.push(p);
      return choices.shift();
    },
    review: async (r) => {
      reviewed.push(r);
    },
    askFeedback: async () => feedback.shift(),
  };
  return { ui, asked, reviewed };
}

test('the modal shows reason and evidence with Review / Approve / Reject…', () => {
  const p = approvalPrompt(revision);
  assert.equal(p.message, 'planloop proposes a re-plan (plan v2)');
  assert.deepEqual(p.buttons, [REVIEW, APPROVE, REJECT]);
  assert.match(p.detail, /^Reason: multiply failed twice\n\nEvidence:\n• calc.py contains \/def multiply\/: pattern not found\n\n/);
  assert.doesNotMatch(p.detail, /• \n/, 'blank evidence is dropped');
});

test('Approve answers {approve: true, by: "vscode"}', async () => {
  const { ui } = person([APPROVE]);
  assert.deepEqual(await runApprovalDialog(revision, ui), { approve: true, by: 'vscode' });
});

test('Review shows the plan diff, then asks again', async () => {
  const { ui, asked, reviewed } = person([REVIEW, APPROVE]);
  assert.deepEqual(await runApprovalDialog(revision, ui), { approve: true, by: 'vscode' });
  assert.equal(reviewed.length, 1);
  assert.equal(reviewed[0].proposedMarkdown, '# Plan v2');
  assert.equal(asked.length, 2);
  assert.match(asked[1].detail, /plan diff .* is open in the editor/);
});

test('Reject with feedback sends it to the planner', async () => {
  const { ui } = person([REJECT], ['  keep the API  ']);
  assert.deepEqual(await runApprovalDialog(revision, ui), { approve: false, feedback: 'keep the API', by: 'vscode' });
});

test('Reject with empty feedback rejects without feedback', async () => {
  const { ui } = person([REJECT], ['']);
  assert.deepEqual(await runApprovalDialog(revision, ui), { approve: false, by: 'vscode' });
});

test('Escape in the feedback box goes back to the question instead of rejecting', async () => {
  const { ui, asked } = person([REJECT, APPROVE], [undefined]);
  assert.deepEqual(await runApprovalDialog(revision, ui), { approve: true, by: 'vscode' });
  assert.equal(asked.length, 2);
});

test('dismissing the modal is no decision (null): the run waits', async () => {
  const { ui } = person([undefined]);
  assert.equal(await runApprovalDialog(revision, ui), null);
});

test('a UI that never settles ends as no decision', async () => {
  const { ui } = person(Array(10).fill(REVIEW));
  assert.equal(await runApprovalDialog(revision, ui, 5), null);
});

test('pause, plan, budget and command questions have their own wording', () => {
  const base = { planId: 'pln_0123abcd', reason: 'check the output', evidence: [], currentMarkdown: '# p' };
  assert.equal(approvalPrompt({ ...base, kind: 'pause', stepId: 'review' }).message, 'planloop paused at step "review": continue?');
  assert.equal(approvalPrompt({ ...base, kind: 'plan', version: 1 }).message, 'Run this plan (v1)?');
  assert.deepEqual(approvalPrompt({ ...base, kind: 'budget' }).buttons, [APPROVE, REJECT]);
  const cmd = approvalPrompt({ ...base, kind: 'command', command: 'curl example.com' });
  assert.equal(cmd.message, 'Allow the executor to run `curl example.com`?');
  assert.deepEqual(approvalPrompt({ ...base, kind: 'pause', currentMarkdown: '' }).buttons, [APPROVE, REJECT]);
});

test('bad input: malformed request params are normalised, not trusted', () => {
  const r = parseApprovalRequest({ kind: 'revision', version: '2', evidence: 'x', reason: 5, proposedMarkdown: '# v2' });
  assert.equal(r.version, undefined);
  assert.deepEqual(r.evidence, []);
  assert.equal(r.reason, '');
  assert.equal(r.proposedMarkdown, '# v2');
  assert.equal(parseApprovalRequest(null).kind, 'revision');
  assert.equal(parseApprovalRequest({ kind: 'command', command: 'ls' }).command, 'ls');
  assert.equal(parseApprovalRequest({ kind: 'plan' }).kind, 'plan');
});
