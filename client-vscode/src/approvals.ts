/**
 * Approvals drawn in VS Code: a modal with the reason and evidence (Review / Approve /
 * Reject…), the plan Markdown diff for Review, an input box for the planner feedback.
 *
 * Used twice: to answer the server's `planloop/requestApproval` during a run, and by
 * "Review Pending Decision" for a question left waiting (dismissed, or asked before a
 * restart), which then answers through planloop.decideRevision / planloop.approvePause.
 */

import * as vscode from 'vscode';
import { type ApprovalUi, parseApprovalRequest, runApprovalDialog } from './approvalFlow';
import { PlanDocumentProvider, planDocUri } from './diffs';
import type { ApprovalAnswer, ApprovalRequest } from './protocol';

export class ApprovalDialogs implements ApprovalUi {
  constructor(
    private readonly docs: PlanDocumentProvider,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async ask(prompt: { message: string; detail: string; buttons: string[] }): Promise<string | undefined> {
    return vscode.window.showWarningMessage(prompt.message, { modal: true, detail: prompt.detail }, ...prompt.buttons);
  }

  async review(req: ApprovalRequest): Promise<void> {
    const id = req.planId || 'plan';
    if (req.kind === 'revision' && req.proposedMarkdown !== undefined) {
      const left = planDocUri(`${id}/current.md`, `approval-${req.version ?? ''}`);
      const right = planDocUri(`${id}/proposed-v${req.version ?? 'next'}.md`, `approval-${req.version ?? ''}`);
      this.docs.set(left, req.currentMarkdown);
      this.docs.set(right, req.proposedMarkdown);
      await vscode.commands.executeCommand(
        'vscode.diff',
        left,
        right,
        `Plan: current ↔ proposed v${req.version ?? ''}`,
        { preview: false },
      );
      return;
    }
    const doc = planDocUri(`${id}/plan.md`, `review-${req.kind}`);
    this.docs.set(doc, req.currentMarkdown);
    await vscode.window.showTextDocument(doc, { preview: false });
  }

  async askFeedback(req: ApprovalRequest): Promise<string | undefined> {
    return vscode.window.showInputBox({
      title: req.kind === 'revision' ? 'Reject the re-plan' : 'Reject',
      prompt: 'Optional: tell the planner why (it gets another try with your feedback). Enter rejects; Escape goes back.',
      placeHolder: 'e.g. keep the public API unchanged',
      ignoreFocusOut: true,
    });
  }

  /** The `planloop/requestApproval` handler. */
  async handleRequest(raw: unknown): Promise<ApprovalAnswer | null> {
    const req = parseApprovalRequest(raw);
    this.log.info(`approval requested: ${req.kind} ${req.version ?? ''} ${req.reason}`);
    const answer = await runApprovalDialog(req, this);
    this.log.info(`approval answer: ${answer ? JSON.stringify(answer) : 'none (the run waits)'}`);
    return answer;
  }
}
