/**
 * `planloop 3/7 · $0.14` in the status bar; a click opens the Plan view.
 */

import * as vscode from 'vscode';
import { statusBarText, statusBarTooltip } from './planModel';
import type { PlanState } from './planState';

export class PlanStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('planloop.status', vscode.StatusBarAlignment.Left, 50);
  private readonly sub: { dispose(): void };

  constructor(private readonly state: PlanState) {
    this.item.name = 'planloop';
    this.item.command = 'planloop.plan.focus';
    this.render();
    this.sub = state.onChange(() => this.render());
  }

  private render(): void {
    const p = this.state.payload;
    const busy = this.state.busy || p?.state === 'running';
    this.item.text = statusBarText(p, busy);
    this.item.tooltip = statusBarTooltip(p);
    this.item.accessibilityInformation = { label: this.item.text.replace(/\$\([^)]*\)\s*/g, '') };
    this.item.backgroundColor = p?.pending ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.sub.dispose();
    this.item.dispose();
  }
}
