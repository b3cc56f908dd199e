/**
 * The Plan view: planModel's nodes as VS Code tree items.
 *
 * All content decisions are in planModel.ts; this only maps icons to ThemeIcons, file rows to
 * resource URIs (so they get file icons) and row clicks to commands.
 */

import * as vscode from 'vscode';
import { buildTree, type PlanNode } from './planModel';
import type { PlanState } from './planState';

export class PlanTreeProvider implements vscode.TreeDataProvider<PlanNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<PlanNode | undefined | void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private roots: PlanNode[] = [];
  private readonly sub: { dispose(): void };

  constructor(
    private readonly state: PlanState,
    private readonly folder: vscode.Uri | undefined,
  ) {
    this.rebuild();
    this.sub = state.onChange(() => {
      this.rebuild();
      this.emitter.fire();
    });
  }

  private rebuild(): void {
    this.roots = buildTree(this.state.payload, this.state.liveLines);
  }

  getTreeItem(node: PlanNode): vscode.TreeItem {
    const state =
      node.collapsible === 'expanded'
        ? vscode.TreeItemCollapsibleState.Expanded
        : node.collapsible === 'collapsed'
          ? vscode.TreeItemCollapsibleState.Collapsed
          : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    item.accessibilityInformation = { label: node.accessibilityLabel };
    if (node.icon) {
      item.iconPath = new vscode.ThemeIcon(
        node.icon.id,
        node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined,
      );
    }
    if (node.kind === 'file' && node.filePath && this.folder) {
      item.resourceUri = vscode.Uri.joinPath(this.folder, node.filePath);
    }
    if (node.action === 'openFileDiff') {
      item.command = { command: 'planloop.ui.openFileDiff', title: 'Open Diff', arguments: [node] };
    } else if (node.action === 'reviewPending') {
      item.command = { command: 'planloop.ui.reviewPending', title: 'Review', arguments: [node] };
    }
    return item;
  }

  getChildren(node?: PlanNode): PlanNode[] {
    return node ? node.children : this.roots;
  }

  getParent(node: PlanNode): PlanNode | undefined {
    if (!node.stepId || node.kind === 'step' || node.kind === 'goal' || node.kind === 'pending') return undefined;
    return this.roots.find((r) => r.kind === 'step' && r.stepId === node.stepId);
  }

  /** The step row for a step id, for `reveal`. */
  stepNode(stepId: string): PlanNode | undefined {
    return this.roots.find((r) => r.kind === 'step' && r.stepId === stepId);
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}
