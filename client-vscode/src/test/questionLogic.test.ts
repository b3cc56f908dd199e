// The planner's question with a scripted person: what is offered, what goes back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OWN_WORDS, parseAnswerRequest, type QuestionPick, questionPicks, type QuestionUi, runQuestion } from '../questionLogic';
import type { AnswerRequest } from '../protocol';

const req: AnswerRequest = {
  question: 'Round half up or half to even?',
  options: ['half up', ' half to even ', 'half up', ''],
  askedAt: '2026-01-01T00:00:00Z',
};

/** A person who picks `labels` in order (undefined: dismisses) and types `texts` when asked. */
function person(labels: (string | undefined)[], texts: (string | undefined)[] = []) {
  const offered: string[][] = [];
  const inputs: string[] = [];
  const ui: QuestionUi = {
    async pick(_title: string, items: QuestionPick[]) {
      offered.push(items.map((i) => i.label));
      const label = labels.shift();
      return items.find((i) => i.label === label);
    },
    async input(title: string) {
      inputs.push(title);
      return texts.shift();
    },
  };
  return { ui, offered, inputs };
}

test('the options, trimmed and once each, then the free-text item', () => {
  assert.deepEqual(
    questionPicks(req).map((p) => [p.label, p.freeText]),
    [
      ['half up', false],
      ['half to even', false],
      [OWN_WORDS, true],
    ],
  );
  assert.deepEqual(questionPicks({ ...req, options: [] }).map((p) => p.label), [OWN_WORDS]);
});

test('picking an option answers with its text', async () => {
  const p = person(['half to even']);
  assert.deepEqual(await runQuestion(req, p.ui), { answer: 'half to even' });
  assert.deepEqual(p.inputs, []);
});

test('own words asks for text and sends it trimmed', async () => {
  const p = person([OWN_WORDS], ['  like Python round()  ']);
  assert.deepEqual(await runQuestion(req, p.ui), { answer: 'like Python round()' });
  assert.deepEqual(p.inputs, [req.question]);
});

test('backing out of the text goes back to the pick; dismissing it is "not now"', async () => {
  const p = person([OWN_WORDS, undefined], [undefined]);
  assert.equal(await runQuestion(req, p.ui), null);
  assert.equal(p.offered.length, 2);
  const blank = person([OWN_WORDS, 'half up'], ['   ']);
  assert.deepEqual(await runQuestion(req, blank.ui), { answer: 'half up' });
});

test('params without a question are refused; odd options dropped', () => {
  assert.throws(() => parseAnswerRequest({ options: ['a'] }), /without a question/);
  assert.throws(() => parseAnswerRequest(null), /without a question/);
  assert.deepEqual(parseAnswerRequest({ question: 'Q?', options: ['a', 3, null] }).options, ['a']);
});
