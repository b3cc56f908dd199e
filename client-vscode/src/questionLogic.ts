/**
 * The planner's clarifying question (planloop/requestAnswer), separated from how it is drawn.
 *
 * questions.ts supplies the real quick pick and input box; what is offered, in which order,
 * and what goes back to the server live here so they are unit tested with a scripted user.
 * The contract's answer is {answer}; `null` means "not now": planning stops to wait, and the
 * question stays in getPlan's `pending` for planloop.answer.
 */

import type { AnswerReply, AnswerRequest } from './protocol';

/** The quick pick's last item: type an answer instead of picking an option. */
export const OWN_WORDS = 'Answer in your own words…';

export interface QuestionPick {
  label: string;
  /** true for OWN_WORDS: asks for free text next */
  freeText: boolean;
}

export interface QuestionUi {
  /** A quick pick of the items; resolves to the one picked, or undefined when dismissed. */
  pick(title: string, items: QuestionPick[]): Promise<QuestionPick | undefined>;
  /** Free text for the answer; undefined when the user backed out. */
  input(title: string): Promise<string | undefined>;
}

/** The options, each as typed by the planner, then the free-text item. */
export function questionPicks(req: AnswerRequest): QuestionPick[] {
  const seen = new Set<string>();
  const items: QuestionPick[] = [];
  for (const option of req.options) {
    const label = option.trim();
    if (label && !seen.has(label)) {
      seen.add(label);
      items.push({ label, freeText: false });
    }
  }
  items.push({ label: OWN_WORDS, freeText: true });
  return items;
}

export function questionTitle(req: AnswerRequest): string {
  return `planloop: the planner asks — ${req.question}`;
}

/** Checks the params' shape (the server is trusted, a bug should still fail clearly). */
export function parseAnswerRequest(raw: unknown): AnswerRequest {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r.question !== 'string' || !r.question.trim()) {
    throw new Error('planloop/requestAnswer without a question');
  }
  const options = Array.isArray(r.options) ? r.options.filter((o): o is string => typeof o === 'string') : [];
  return { question: r.question, options, askedAt: typeof r.askedAt === 'string' ? r.askedAt : '' };
}

/**
 * Ask: pick an option (the answer is its text) or give your own words. Backing out of the
 * free text returns to the pick; dismissing the pick is "not now" (null).
 */
export async function runQuestion(req: AnswerRequest, ui: QuestionUi): Promise<AnswerReply | null> {
  const items = questionPicks(req);
  const title = questionTitle(req);
  for (;;) {
    const picked = await ui.pick(title, items);
    if (!picked) return null;
    if (!picked.freeText) return { answer: picked.label };
    const text = await ui.input(req.question);
    if (text !== undefined && text.trim()) return { answer: text.trim() };
  }
}
