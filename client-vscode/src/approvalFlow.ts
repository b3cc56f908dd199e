/**
 * The approval conversation (re-plan or pause), separated from how it is drawn.
 *
 * approvals.ts supplies the real dialogs (a modal, a diff editor, an input box); the decisions
 * about what to ask, in which order, and what answer goes back to the server live here so they
 * are unit tested with a scripted user. The contract's answer is {approve, feedback?, by?}, and
 * `null` means "no decision": the server keeps the run waiting, resumable later.
 */

import type { ApprovalAnswer, ApprovalKind, ApprovalRequest, PendingKind } from './protocol';

export const REVIEW = 'Review';
export const APPROVE = 'Approve';
export const REJECT = 'Reject…';

export interface ApprovalPrompt {
  message: string;
  detail: string;
  buttons: string[];
}

export interface ApprovalUi {
  /** A modal question; resolves to the button clicked, or undefined when dismissed. */
  ask(prompt: ApprovalPrompt): Promise<string | undefined>;
  /** Show what is being decided (the plan Markdown diff); resolves once it is shown. */
  review(request: ApprovalRequest): Promise<void>;
  /** Optional feedback for the planner; undefined = the user backed out of rejecting. */
  askFeedback(request: ApprovalRequest): Promise<string | undefined>;
}

/** One line naming what is being decided, for dialogs, tree rows and messages. */
export function approvalSubject(
  req: Pick<ApprovalRequest, 'version' | 'stepId' | 'command'> & { kind: ApprovalKind | PendingKind },
): string {
  switch (req.kind) {
    case 'question':
      return "the planner's question";
    case 'revision':
      return `a re-plan${req.version !== undefined ? ` (plan v${req.version})` : ''}`;
    case 'plan':
      return `running the plan${req.version !== undefined ? ` v${req.version}` : ''}`;
    case 'pause':
      return `continuing past the pause${req.stepId ? ` at step "${req.stepId}"` : ''}`;
    case 'budget':
      return 'continuing past the budget';
    case 'command':
      return req.command ? `running \`${req.command}\`` : 'running a command';
    default:
      return 'a decision';
  }
}

export function approvalPrompt(req: ApprovalRequest, reviewed = false): ApprovalPrompt {
  const evidence = req.evidence.filter((e) => e.trim());
  const evidenceText = evidence.length ? `\n\nEvidence:\n${evidence.map((e) => `• ${e}`).join('\n')}` : '';
  const reason = req.reason || '(no reason given)';
  const canReview = req.kind === 'revision' ? Boolean(req.proposedMarkdown || req.currentMarkdown) : Boolean(req.currentMarkdown);
  const buttons = canReview ? [REVIEW, APPROVE, REJECT] : [APPROVE, REJECT];
  const later = 'Dismiss this dialog to decide later from the Plan view.';
  switch (req.kind) {
    case 'revision': {
      const v = req.version !== undefined ? ` (plan v${req.version})` : '';
      const tail = reviewed
        ? `\n\nThe plan diff (current ↔ proposed) is open in the editor. ${later}`
        : '\n\nReview opens the plan diff (current ↔ proposed). Reject stops the run; you can tell the planner why.';
      return {
        message: `planloop proposes a re-plan${v}`,
        detail: `Reason: ${reason}${evidenceText}${tail}`,
        buttons,
      };
    }
    case 'plan': {
      const tail = reviewed
        ? `\n\nThe plan document is open in the editor. ${later}`
        : '\n\nReview opens the plan document. Reject keeps the plan without running it; you can tell the planner why.';
      return {
        message: `Run this plan${req.version !== undefined ? ` (v${req.version})` : ''}?`,
        detail: `${reason}${evidenceText}${tail}`,
        buttons,
      };
    }
    case 'pause':
      return {
        message: `planloop paused${req.stepId ? ` at step "${req.stepId}"` : ''}: continue?`,
        detail: `${req.reason || 'This step asks for your go-ahead before the run continues.'}${evidenceText}`,
        buttons,
      };
    case 'budget':
      return {
        message: 'planloop reached its budget: continue?',
        detail: `${reason}${evidenceText}`,
        buttons: [APPROVE, REJECT],
      };
    case 'command':
      return {
        message: `Allow the executor to run ${req.command ? `\`${req.command}\`` : 'a command'}?`,
        detail: `${reason}${evidenceText}\n\nThis command is not in planloop.commandPolicy.allow.`,
        buttons: [APPROVE, REJECT],
      };
    default:
      return { message: `planloop asks: ${reason}`, detail: evidenceText.trim(), buttons: [APPROVE, REJECT] };
  }
}

export function approveAnswer(): ApprovalAnswer {
  return { approve: true, by: 'vscode' };
}

export function rejectAnswer(feedback?: string): ApprovalAnswer {
  const f = feedback?.trim();
  return f ? { approve: false, feedback: f, by: 'vscode' } : { approve: false, by: 'vscode' };
}

/**
 * Ask until the user approves, rejects, or dismisses. Review and a backed-out Reject return
 * to the question; `maxRounds` only guards against a UI that never settles.
 */
export async function runApprovalDialog(
  req: ApprovalRequest,
  ui: ApprovalUi,
  maxRounds = 50,
): Promise<ApprovalAnswer | null> {
  let reviewed = false;
  for (let round = 0; round < maxRounds; round++) {
    const choice = await ui.ask(approvalPrompt(req, reviewed));
    if (choice === APPROVE) return approveAnswer();
    if (choice === REVIEW) {
      await ui.review(req);
      reviewed = true;
      continue;
    }
    if (choice === REJECT) {
      const feedback = await ui.askFeedback(req);
      if (feedback === undefined) continue; // backed out: ask again rather than reject silently
      return rejectAnswer(feedback);
    }
    return null; // dismissed: no decision, the run waits
  }
  return null;
}

/** Server params are untrusted JSON: normalise before anything is shown from them. */
export function parseApprovalRequest(raw: unknown): ApprovalRequest {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const kinds: readonly ApprovalKind[] = ['plan', 'revision', 'pause', 'budget', 'command'];
  const kind = kinds.includes(r.kind as ApprovalKind) ? (r.kind as ApprovalKind) : 'revision';
  const version = typeof r.version === 'number' ? r.version : undefined;
  const stepId = typeof r.stepId === 'string' && r.stepId ? r.stepId : undefined;
  const evidence = Array.isArray(r.evidence) ? r.evidence.map((e) => String(e)) : [];
  const proposed = typeof r.proposedMarkdown === 'string' ? r.proposedMarkdown : undefined;
  return {
    kind,
    planId: str(r.planId),
    version,
    stepId,
    reason: str(r.reason),
    evidence,
    currentMarkdown: str(r.currentMarkdown),
    proposedMarkdown: proposed,
    command: typeof r.command === 'string' && r.command ? r.command : undefined,
  };
}
