/**
 * Activation: wires the plan state, the tree, the status bar, diffs, approvals and commands
 * to one language server for the window's first folder.
 */

import * as vscode from 'vscode';
import { ApprovalDialogs } from './approvals';
import { QuestionDialogs } from './questions';
import { Commands } from './commands';
import { CheckpointContentProvider, CHECKPOINT_SCHEME, PLAN_SCHEME, PlanDocumentProvider, StepDiffs } from './diffs';
import { affectsServer, progressLine } from './messages';
import { PlanState } from './planState';
import { PlanTreeProvider } from './planTree';
import { OperationProgress } from './progress';
import { PythonError } from './python';
import { ServerManager } from './server';
import { PlanStatusBar } from './statusBar';

let manager: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('planloop', { log: true });
  context.subscriptions.push(log);
  const folder = vscode.workspace.workspaceFolders?.[0];
  const state = new PlanState();
  const progress = new OperationProgress();
  const docs = new PlanDocumentProvider();
  const dialogs = new ApprovalDialogs(docs, log);
  const questions = new QuestionDialogs(log);
  const tree = new PlanTreeProvider(state, folder?.uri);
  const view = vscode.window.createTreeView('planloop.plan', { treeDataProvider: tree, showCollapseAll: true });
  context.subscriptions.push(docs, tree, view, new PlanStatusBar(state));
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(PLAN_SCHEME, docs));

  let commands: Commands | undefined;
  let diffs: StepDiffs | undefined;
  if (folder) {
    if ((vscode.workspace.workspaceFolders?.length ?? 0) > 1) {
      log.info(`several folders are open; planloop works on the first one: ${folder.uri.fsPath}`);
    }
    manager = new ServerManager(context, folder, log, {
      planChanged: (p) => state.apply(p),
      stepEvent: (e) => {
        state.stepEvent(e);
        log.info(`[${e.stepId}] ${e.line}`);
        progress.report(progressLine(state.payload, e.stepId, e.line));
      },
      requestApproval: (params) => dialogs.handleRequest(params),
      requestAnswer: (params) => questions.handleRequest(params),
      crashed: (message) => {
        void vscode.window.showErrorMessage(message, 'Restart Server', 'Show Log').then((pick) => {
          if (pick === 'Restart Server') void vscode.commands.executeCommand('planloop.ui.restartServer');
          if (pick === 'Show Log') log.show(true);
        });
      },
      workDoneProgress: (value) => progress.absorb(value),
      started: () => {
        void commands?.refresh().catch((e: Error) => log.warn(`loading the plan: ${e.message}`));
      },
    });
    context.subscriptions.push(manager, manager.onDidChangeState(() => setContext()));
    const checkpoints = new CheckpointContentProvider(manager, folder.uri);
    context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(CHECKPOINT_SCHEME, checkpoints));
    diffs = new StepDiffs(manager, checkpoints, folder.uri);
  }

  commands = new Commands({
    context,
    folder,
    server: () => manager,
    state,
    progress,
    dialogs,
    docs,
    diffs: () => diffs,
    log,
    revealView: async () => {
      await vscode.commands.executeCommand('planloop.plan.focus');
    },
  });
  context.subscriptions.push(...commands.register());

  function setContext(): void {
    const p = state.payload;
    void vscode.commands.executeCommand('setContext', 'planloop.hasPlan', Boolean(p?.plan));
    void vscode.commands.executeCommand('setContext', 'planloop.running', state.busy || p?.state === 'running');
    void vscode.commands.executeCommand('setContext', 'planloop.pending', Boolean(p?.pending));
    view.message =
      manager?.state === 'failed' && p?.plan
        ? "planloop's server is not running: this is the plan's last known state. Restart the server to continue."
        : undefined;
    commands?.syncPlanDocument();
  }
  context.subscriptions.push(state.onChange(setContext));
  setContext();

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!manager || !folder) return;
      const what = affectsServer((section) => e.affectsConfiguration(section, folder.uri));
      if (what === 'restart' && manager.state !== 'stopped' && !state.busy) {
        void vscode.window
          .showInformationMessage('planloop.python changed: restart the server to use it?', 'Restart Server')
          .then((pick) => pick && vscode.commands.executeCommand('planloop.ui.restartServer'));
      } else if (what === 'notify') {
        manager.notifyConfigurationChanged();
      }
    }),
  );

  if (manager) {
    // Start now so the view shows the folder's plan; failures get one clear message.
    manager.start().catch(async (e: Error) => {
      log.error(e.message);
      if (e instanceof PythonError) await commands?.showPythonError(e);
      else void vscode.window.showErrorMessage(`planloop: ${e.message}`);
    });
  }
}

export async function deactivate(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}
