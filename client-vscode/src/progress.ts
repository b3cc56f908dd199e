/**
 * One cancellable progress notification per long user action (planning, running, re-planning).
 *
 * The server reports work-done progress ($/progress) for planning and each step; while one of
 * our notifications is open those reports update it instead of a second, uncancellable
 * status-bar progress (see `handleWorkDoneProgress` in extension.ts). Cancel sends
 * `planloop.cancel`: the server stops the model call, kills the running command and rolls the
 * step back, then the command's own result says "cancelled".
 */

import * as vscode from 'vscode';
import type { WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageclient';

export class OperationProgress {
  private current: vscode.Progress<{ message?: string }> | undefined;

  get active(): boolean {
    return this.current !== undefined;
  }

  /** Run `work` under a notification; `onCancel` is called once if the user presses Cancel. */
  async run<T>(title: string, work: () => Promise<T>, onCancel: () => Promise<void> | void): Promise<T> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable: true },
      async (progress, token) => {
        const previous = this.current;
        this.current = progress;
        const sub = token.onCancellationRequested(() => {
          progress.report({ message: 'cancelling…' });
          void Promise.resolve(onCancel()).catch(() => undefined);
        });
        try {
          return await work();
        } finally {
          sub.dispose();
          this.current = previous;
        }
      },
    );
  }

  report(message: string): void {
    this.current?.report({ message: message.length > 160 ? `${message.slice(0, 159)}…` : message });
  }

  /** Server progress while a notification is open: returns false when it should be shown normally. */
  absorb(value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): boolean {
    if (!this.current) return false;
    if (value.kind === 'begin') {
      const t = value.title.replace(/^planloop:\s*/, '');
      this.report(value.message ? `${t} — ${value.message}` : t);
    } else if (value.kind === 'report' && value.message) {
      this.report(value.message);
    }
    return true;
  }
}
