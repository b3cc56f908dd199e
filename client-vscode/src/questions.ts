/**
 * The planner's clarifying questions drawn in VS Code: a quick pick of the options plus
 * "Answer in your own words…" (an input box). Used to answer the server's
 * planloop/requestAnswer while a plan is being drafted.
 */

import * as vscode from 'vscode';
import { parseAnswerRequest, type QuestionPick, type QuestionUi, runQuestion } from './questionLogic';
import type { AnswerReply } from './protocol';

export class QuestionDialogs implements QuestionUi {
  constructor(private readonly log: vscode.LogOutputChannel) {}

  async pick(title: string, items: QuestionPick[]): Promise<QuestionPick | undefined> {
    return vscode.window.showQuickPick(items, { title, placeHolder: 'Pick an answer, or answer in your own words', ignoreFocusOut: true });
  }

  async input(title: string): Promise<string | undefined> {
    return vscode.window.showInputBox({ title, prompt: 'Your answer for the planner', ignoreFocusOut: true });
  }

  /** The `planloop/requestAnswer` handler. */
  async handleRequest(raw: unknown): Promise<AnswerReply | null> {
    const req = parseAnswerRequest(raw);
    this.log.info(`the planner asks: ${req.question}`);
    const answer = await runQuestion(req, this);
    this.log.info(`answer: ${answer ? answer.answer : 'none (planning waits for planloop.answer)'}`);
    return answer;
  }
}
