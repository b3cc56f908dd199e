/**
 * The extension's commands (`planloop.ui.*`): gather input, call the server, show the outcome.
 *
 * Ids differ from the server's (`planloop.createPlan` …) on purpose: vscode-languageclient
 * registers every command the server advertises, and registering one twice fails activation.
 * Argument objects come from args.ts, wording from messages.ts; this file is the glue.
 */

import * as vscode from 'vscode';
import {
  answerArgs,
  ArgumentError,
  decidePendingArgs,
  cancelArgs,
  createPlanArgs,
  decideRevisionArgs,
  doctorArgs,
  getPlanArgs,
  replanArgs,
  revertStepArgs,
  runAllArgs,
  runStepArgs,
  stepIdFromCommandArg,
} from './args';
import { runApprovalDialog } from './approvalFlow';
import { runQuestion } from './questionLogic';
import { QuestionDialogs } from './questions';
import type { ApprovalDialogs } from './approvals';
import { type PlanDocumentProvider, planDocUri, type StepDiffs } from './diffs';
import {
  runOutcomeMessage,
  revertMessage,
  type UserMessage,
  unsavedFilesInScope,
  unsavedPrompt,
} from './messages';
import { editPlanProblem, isPlanDocument, PLAN_DOCUMENT } from './planDocumentLogic';
import { nextRunnableStep, stepFiles, stepHasChanges } from './planModel';
import type { PlanState } from './planState';
import type { OperationProgress } from './progress';
import { doctorSummary, keyProblem, KEY_PROVIDERS, providerById, providerPickItems, secretName } from './apiKeyLogic';
import type {
  ApprovalRequest,
  DoctorPayload,
  PlanPayload,
  ReplanPayload,
  RevertPayload,
  RunPayload,
  Step,
} from './protocol';
import { PythonError } from './python';
import { NotRunningError, ServerCrashedError, type ServerManager } from './server';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  folder: vscode.WorkspaceFolder | undefined;
  server: () => ServerManager | undefined;
  state: PlanState;
  progress: OperationProgress;
  dialogs: ApprovalDialogs;
  docs: PlanDocumentProvider;
  diffs: () => StepDiffs | undefined;
  log: vscode.LogOutputChannel;
  revealView: () => Promise<void>;
}

const SAVE_ALL = 'Save All';
const RESTART = 'Restart Server';
const SHOW_LOG = 'Show Log';
const OPEN_SETTINGS = 'Open Settings';

class NoFolderError extends Error {}

export class Commands {
  constructor(private readonly d: CommandDeps) {}

  register(): vscode.Disposable[] {
    const reg = (id: string, fn: (...args: unknown[]) => Promise<unknown>) =>
      vscode.commands.registerCommand(id, (...args: unknown[]) => this.guard(() => fn(...args)));
    return [
      reg('planloop.ui.newPlan', () => this.newPlan()),
      reg('planloop.ui.runNext', (arg) => this.runStep(stepIdFromCommandArg(arg))),
      reg('planloop.ui.runStep', (arg) => this.runStep(stepIdFromCommandArg(arg))),
      reg('planloop.ui.runAll', () => this.runAll()),
      reg('planloop.ui.showStepChanges', (arg) => this.showStepChanges(stepIdFromCommandArg(arg))),
      reg('planloop.ui.openFileDiff', (arg) => this.openFileDiff(arg)),
      reg('planloop.ui.revertStep', (arg) => this.revertStep(stepIdFromCommandArg(arg))),
      reg('planloop.ui.replan', () => this.replan()),
      reg('planloop.ui.reviewPending', () => this.reviewPending()),
      reg('planloop.ui.cancel', () => this.cancel()),
      reg('planloop.ui.openPlan', () => this.openPlan()),
      reg('planloop.ui.editPlan', () => this.editPlan()),
      reg('planloop.ui.showLog', async () => this.d.log.show(true)),
      reg('planloop.ui.setApiKey', () => this.setApiKey()),
      reg('planloop.ui.checkModels', () => this.checkModels()),
      reg('planloop.ui.restartServer', () => this.restartServer()),
    ];
  }

  // --- plumbing -------------------------------------------------------------------------

  /** Every command's errors end as one message with the button that helps. */
  private async guard(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      const err = e as Error;
      this.d.log.error(`command failed: ${err.message}`);
      if (e instanceof ServerCrashedError) {
        return; // the crash notification already offers Restart; one message is enough
      }
      if (e instanceof ArgumentError || e instanceof NoFolderError) {
        void vscode.window.showWarningMessage(err.message);
      } else if (e instanceof NotRunningError) {
        const pick = await vscode.window.showErrorMessage(err.message, RESTART, SHOW_LOG);
        if (pick === RESTART) await this.guard(() => this.restartServer());
        if (pick === SHOW_LOG) this.d.log.show(true);
      } else if (e instanceof PythonError) {
        await this.showPythonError(e);
      } else {
        const pick = await vscode.window.showErrorMessage(`planloop: ${err.message}`, SHOW_LOG);
        if (pick === SHOW_LOG) this.d.log.show(true);
      }
    }
  }

  async showPythonError(e: PythonError): Promise<void> {
    const buttons = e.fix === 'showLog' ? [SHOW_LOG] : [OPEN_SETTINGS, SHOW_LOG];
    const pick = await vscode.window.showErrorMessage(e.message, ...buttons);
    if (pick === OPEN_SETTINGS) {
      // Open the settings where the value lives, so the user edits the one that is in effect.
      const where = vscode.workspace.getConfiguration('planloop', this.d.folder?.uri).inspect('python');
      const inWorkspace = where?.workspaceFolderValue !== undefined || where?.workspaceValue !== undefined;
      await vscode.commands.executeCommand(
        inWorkspace ? 'workbench.action.openWorkspaceSettings' : 'workbench.action.openSettings',
        inWorkspace ? { query: 'planloop.python' } : 'planloop.python',
      );
    } else if (pick === SHOW_LOG) {
      this.d.log.show(true);
    }
  }

  private server(): ServerManager {
    const s = this.d.server();
    if (!this.d.folder || !s) {
      throw new NoFolderError('planloop works on a folder: open one first (File → Open Folder…).');
    }
    return s;
  }

  private notBusy(): void {
    if (this.d.state.busy) {
      throw new ArgumentError('planloop is already working in this window: wait for it, or Cancel it first.');
    }
  }

  private show(m: UserMessage, ...buttons: string[]): Thenable<string | undefined> {
    if (m.severity === 'error') return vscode.window.showErrorMessage(m.text, ...buttons);
    if (m.severity === 'warning') return vscode.window.showWarningMessage(m.text, ...buttons);
    return vscode.window.showInformationMessage(m.text, ...buttons);
  }

  /** Long server work: a cancellable notification, the busy flag, the result applied. */
  private async long<T>(title: string, work: () => Promise<T>): Promise<T> {
    const server = this.server();
    return this.d.state.track(() =>
      this.d.progress.run(title, work, async () => {
        try {
          await server.execute(cancelArgs());
        } catch (e) {
          this.d.log.warn(`cancel: ${(e as Error).message}`);
        }
      }),
    );
  }

  /** Refreshes the tree from the server (after a restart, or when it may be stale). */
  async refresh(): Promise<void> {
    const server = this.d.server();
    if (!server) return;
    const payload = await server.execute<PlanPayload | null>(getPlanArgs());
    // while the planner of a first plan waits for an answer there is no plan yet (plan null)
    this.d.state.apply(payload && payload.plan ? payload : null);
  }

  /** planloop never overwrites unsaved edits: offer to save them, or stop here. */
  private async ensureSaved(only?: string[]): Promise<boolean> {
    if (!this.d.folder) return true;
    // an unsaved plan document is the user's draft of the next version, not a file a step edits
    const dirty = vscode.workspace.textDocuments.filter(
      (d) => d.isDirty && d.uri.scheme === 'file' && !isPlanDocument(d.uri.path),
    );
    const paths = unsavedFilesInScope(
      dirty.map((d) => d.uri.fsPath),
      this.d.folder.uri.fsPath,
      only,
    );
    if (!paths.length) return true;
    const pick = await vscode.window.showWarningMessage(unsavedPrompt(paths), { modal: true }, SAVE_ALL);
    if (pick !== SAVE_ALL) return false;
    const saved = await vscode.workspace.saveAll(false);
    if (!saved) {
      void vscode.window.showWarningMessage('Some files could not be saved; nothing was run.');
    }
    return saved;
  }

  private step(stepId: string): Step | undefined {
    return this.d.state.payload?.plan.steps.find((s) => s.id === stepId);
  }

  private async pickStep(placeHolder: string, filter: (s: Step) => boolean): Promise<string | undefined> {
    const steps = this.d.state.payload?.plan.steps.filter(filter) ?? [];
    if (!steps.length) throw new ArgumentError('No step of the current plan fits: nothing to do.');
    if (steps.length === 1) return steps[0].id;
    const pick = await vscode.window.showQuickPick(
      steps.map((s, i) => ({ label: `${i + 1}. ${s.title}`, description: s.status, id: s.id })),
      { placeHolder },
    );
    return pick?.id;
  }

  // --- commands ---------------------------------------------------------------------------

  async newPlan(): Promise<void> {
    const server = this.server();
    this.notBusy();
    const current = this.d.state.payload;
    if (current && current.state !== 'done' && current.progress.done < current.progress.total) {
      const go = await vscode.window.showWarningMessage(
        `Start a new plan? The current one (${current.progress.done}/${current.progress.total} steps done) stays in .planloop but is no longer the current plan.`,
        { modal: true },
        'New Plan',
      );
      if (go !== 'New Plan') return;
    }
    const goal = await vscode.window.showInputBox({
      title: 'planloop: New Plan',
      prompt: 'Describe the coding goal. The planner explores the workspace (read-only) and proposes steps with checks.',
      placeHolder: 'e.g. add a subtract command to the calculator, with tests',
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'A plan needs a goal.'),
    });
    if (goal === undefined) return;
    const params = createPlanArgs(goal);
    await this.d.revealView();
    const payload = await this.long('planloop: planning', () => server.execute<PlanPayload>(params));
    this.d.state.apply(payload);
    const n = payload.plan.steps.length;
    if (payload.pending?.kind === 'plan') {
      await this.openPlan();
      const pick = await vscode.window.showInformationMessage(
        `planloop drafted ${n} step${n === 1 ? '' : 's'}. Review the plan, then Run All to approve and start.`,
        'Run All',
      );
      if (pick === 'Run All') await this.guard(() => this.runAll());
    } else {
      const pick = await vscode.window.showInformationMessage(
        `planloop drafted ${n} step${n === 1 ? '' : 's'}.`,
        'Run All',
        'Open Plan Document',
      );
      if (pick === 'Run All') await this.guard(() => this.runAll());
      if (pick === 'Open Plan Document') await this.openPlan();
    }
  }

  async runStep(stepId?: string): Promise<void> {
    const server = this.server();
    this.notBusy();
    const target = stepId ?? nextRunnableStep(this.d.state.payload)?.id;
    if (!(await this.ensureSaved(target ? stepFiles(this.d.state.payload, target) : undefined))) return;
    const title = target ? `planloop: ${this.step(target)?.title ?? target}` : 'planloop: next step';
    const run = await this.long(title, () => server.execute<RunPayload>(runStepArgs(stepId)));
    await this.finishRun(run);
  }

  async runAll(): Promise<void> {
    const server = this.server();
    this.notBusy();
    if (!(await this.ensureSaved())) return;
    const run = await this.long('planloop: running the plan', () => server.execute<RunPayload>(runAllArgs()));
    await this.finishRun(run);
  }

  private async finishRun(run: RunPayload): Promise<void> {
    this.d.state.apply(run.plan);
    const m = runOutcomeMessage(run);
    const buttons = run.state === 'awaiting_approval' ? ['Review'] : [];
    const pick = await this.show(m, ...buttons);
    if (pick === 'Review') await this.guard(() => this.reviewPending());
  }

  async showStepChanges(stepId?: string): Promise<void> {
    this.server();
    const id = stepId ?? (await this.pickStep('Show the changes of which step?', stepHasChanges));
    if (!id) return;
    const diffs = this.d.diffs();
    if (!diffs) return;
    await diffs.showStep(id, this.step(id)?.title ?? id);
  }

  async openFileDiff(arg: unknown): Promise<void> {
    this.server();
    const node = arg as { stepId?: string; filePath?: string } | undefined;
    if (!node?.stepId || !node.filePath) throw new ArgumentError('Pick a changed file in the Plan view.');
    await this.d.diffs()?.showFile(node.stepId, node.filePath);
  }

  async revertStep(stepId?: string): Promise<void> {
    const server = this.server();
    this.notBusy();
    const id = stepId ?? (await this.pickStep('Revert which step?', stepHasChanges));
    if (!id) return;
    const step = this.step(id);
    const files = step?.result?.files_changed.map((f) => f.path) ?? [];
    const go = await vscode.window.showWarningMessage(
      `Revert step "${step?.title ?? id}"?`,
      {
        modal: true,
        detail:
          `Restores ${files.length ? files.join(', ') : 'its files'} to how they were before the step. ` +
          'Files changed since the step are left alone and reported. Steps that depend on it go back to pending.',
      },
      'Revert',
    );
    if (go !== 'Revert') return;
    if (!(await this.ensureSaved(files))) return;
    const res = await this.d.state.track(() => server.execute<RevertPayload>(revertStepArgs(id)));
    this.d.state.apply(res.plan);
    void this.show(revertMessage(res));
  }

  async replan(): Promise<void> {
    const server = this.server();
    this.notBusy();
    if (!this.d.state.hasPlan) throw new ArgumentError('There is no plan to re-plan yet: start with New Plan.');
    const reason = await vscode.window.showInputBox({
      title: 'planloop: Re-plan',
      prompt: 'Optional: why the plan should change (the planner sees this). Enter to continue.',
      placeHolder: 'e.g. the tests live in tests/, not test/',
      ignoreFocusOut: true,
    });
    if (reason === undefined) return;
    const res = await this.long('planloop: re-planning', () => server.execute<ReplanPayload>(replanArgs(reason)));
    this.d.state.apply(res.plan);
    const v = res.proposal?.plan.version;
    if (res.decision === 'approved') {
      const pick = await vscode.window.showInformationMessage(`Plan v${v} approved.`, 'Run All');
      if (pick === 'Run All') await this.guard(() => this.runAll());
    } else if (res.decision === 'rejected') {
      void vscode.window.showInformationMessage(`Re-plan v${v ?? ''} rejected; the plan stays as it was.`);
    } else {
      void vscode.window.showInformationMessage(
        `Re-plan v${v ?? ''} is waiting for your decision: "Review Pending Decision" in the Plan view.`,
      );
    }
  }

  /** Decide a question the run left waiting (dismissed earlier, or asked before a restart). */
  async reviewPending(): Promise<void> {
    const server = this.server();
    this.notBusy();
    await this.refresh();
    const payload = this.d.state.payload;
    const p = payload?.pending;
    if (!payload || !p) {
      void vscode.window.showInformationMessage('Nothing is waiting for a decision.');
      return;
    }
    if (p.kind === 'question') {
      // the planner's question, left waiting: the same quick pick, answered via planloop.answer
      const reply = await runQuestion(
        { question: p.question ?? p.reason, options: p.options ?? [], askedAt: p.askedAt },
        new QuestionDialogs(this.d.log),
      );
      if (!reply) return;
      const answered = await this.long('planloop: planning with your answer', () =>
        server.execute<PlanPayload>(answerArgs(reply.answer)),
      );
      this.d.state.apply(answered);
      return;
    }
    const req: ApprovalRequest = {
      kind: p.kind,
      planId: payload.plan.plan_id,
      version: p.version,
      stepId: p.stepId,
      reason: p.reason,
      evidence: p.evidence,
      currentMarkdown: p.currentMarkdown,
      proposedMarkdown: p.proposedMarkdown,
      command: p.command,
    };
    const answer = await runApprovalDialog(req, this.d.dialogs);
    if (!answer) return;
    let result: PlanPayload;
    if (p.kind === 'revision') {
      // Rejecting with feedback sends the planner back to work: a long, cancellable call.
      const params = decideRevisionArgs(p.version, answer.approve, answer.feedback);
      result = await this.long('planloop: applying your decision', () => server.execute<PlanPayload>(params));
    } else {
      // a plan review, a pause or a budget question: yes or no (a "no" stops the run)
      const params = decidePendingArgs(answer.approve, answer.feedback);
      result = await this.long('planloop: applying your decision', () => server.execute<PlanPayload>(params));
    }
    this.d.state.apply(result);
    if (answer.approve && !result.pending && result.state !== 'done') {
      const pick = await vscode.window.showInformationMessage('Approved.', 'Run All');
      if (pick === 'Run All') await this.guard(() => this.runAll());
    }
  }

  async cancel(): Promise<void> {
    const server = this.server();
    const res = await server.execute<{ cancelled: boolean }>(cancelArgs());
    if (!res.cancelled) void vscode.window.showInformationMessage('planloop: nothing is running.');
  }

  async openPlan(): Promise<void> {
    const payload = this.d.state.payload;
    if (!payload) throw new ArgumentError('There is no plan yet: start with New Plan.');
    const uri = planDocUri(`${payload.plan.plan_id}/plan.md`, 'current');
    this.d.docs.set(uri, payload.markdown);
    await vscode.window.showTextDocument(uri, { preview: false, viewColumn: vscode.ViewColumn.Active });
  }

  /**
   * Opens `.planloop/plan.md` as a normal editable document. The language client syncs it
   * (planDocumentLogic.ts): the server shows rule problems while typing, lenses on the steps,
   * check results on hover; saving makes a new plan version, and its planChanged updates the tree.
   */
  async editPlan(): Promise<void> {
    const folder = this.d.folder;
    const uri = folder ? vscode.Uri.joinPath(folder.uri, PLAN_DOCUMENT) : undefined;
    let exists = false;
    if (uri) {
      if (!this.d.state.payload) await this.refresh().catch(() => undefined);
      exists = await vscode.workspace.fs.stat(uri).then(
        () => true,
        () => false,
      );
    }
    const problem = editPlanProblem(Boolean(folder), Boolean(this.d.state.payload), exists);
    if (problem || !uri) throw new ArgumentError(problem ?? 'No folder.');
    await this.server().start(); // the server must hear of the document to check it
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.Active });
  }

  /** Keeps an open plan document in step with the plan. */
  syncPlanDocument(): void {
    const payload = this.d.state.payload;
    if (payload) this.d.docs.set(planDocUri(`${payload.plan.plan_id}/plan.md`, 'current'), payload.markdown);
  }

  /** One key per provider: asks which, stores it under that provider's own secret. */
  async setApiKey(): Promise<void> {
    const stored = new Set<string>();
    for (const p of KEY_PROVIDERS) {
      if (await this.d.context.secrets.get(secretName(p.id))) stored.add(p.id);
    }
    const chosen = await vscode.window.showQuickPick(providerPickItems(stored), {
      title: 'planloop: which provider is the key for?',
      placeHolder: 'Local servers (Ollama, LM Studio) need no key',
      ignoreFocusOut: true,
    });
    const provider = chosen ? providerById(chosen.id) : undefined;
    if (!provider) return;
    const key = await vscode.window.showInputBox({
      title: `planloop: ${provider.label} API key (${provider.envVar})`,
      prompt: 'Stored in VS Code SecretStorage and given only to the planloop server process. Empty removes it.',
      password: true,
      ignoreFocusOut: true,
      validateInput: keyProblem,
    });
    if (key === undefined) return;
    if (key.trim()) await this.d.context.secrets.store(secretName(provider.id), key.trim());
    else await this.d.context.secrets.delete(secretName(provider.id));
    const s = this.d.server();
    if (!s || s.state === 'stopped') {
      void vscode.window.showInformationMessage(key.trim() ? 'API key saved.' : 'API key removed.');
      return;
    }
    const pick = await vscode.window.showInformationMessage(
      `${key.trim() ? 'API key saved' : 'API key removed'}. The server reads it at start: restart it now?`,
      RESTART,
    );
    if (pick === RESTART) await this.restartServer();
  }

  /** planloop.doctor: each role's model answers and calls a tool, the sandbox, each MCP server (the details go to the log). */
  async checkModels(): Promise<void> {
    const server = this.server();
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'planloop: checking the models…' },
      () => server.execute<DoctorPayload>(doctorArgs()),
    );
    const summary = doctorSummary(res);
    for (const line of summary.lines) this.d.log.info(`check models: ${line}`);
    if (summary.severity === 'info') {
      void vscode.window.showInformationMessage(summary.text);
      return;
    }
    const show = summary.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
    const pick = await show(summary.text, SHOW_LOG);
    if (pick === SHOW_LOG) this.d.log.show(true);
  }

  async restartServer(): Promise<void> {
    const server = this.server();
    if (this.d.state.busy) {
      const go = await vscode.window.showWarningMessage(
        'planloop is running a step. Restarting stops it; the step is rolled back to its checkpoint on the next run.',
        { modal: true },
        RESTART,
      );
      if (go !== RESTART) return;
    }
    await server.restart();
    await this.refresh();
    void vscode.window.setStatusBarMessage('planloop: server restarted', 4000);
  }
}
