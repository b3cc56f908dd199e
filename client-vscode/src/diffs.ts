/**
 * Diffs a person reads: a step's files (left: the checkpoint before the step, right: the file
 * on disk, or the after-checkpoint when the file has changed since) and plan documents.
 *
 * Checkpoint contents come from the server (`planloop.fileAtCheckpoint`) through a read-only
 * `planloop-checkpoint:` document whose path is the file's path (so it gets the right language)
 * and whose query is the checkpoint id. Plan Markdown (current, proposed) is served from
 * memory through `planloop-plan:`.
 */

import * as path from 'node:path';
import * as vscode from 'vscode';
import { fileAtCheckpointArgs, stepDiffArgs } from './args';
import type { DiffFile, FileAtCheckpointPayload, StepDiffPayload } from './protocol';
import type { ServerManager } from './server';

export const CHECKPOINT_SCHEME = 'planloop-checkpoint';
export const PLAN_SCHEME = 'planloop-plan';

/**
 * A file as it was at a checkpoint. The path is the file's own path in the workspace (so the
 * diff editors label both sides alike instead of showing a rename); the query is the checkpoint.
 */
export function checkpointUri(folder: vscode.Uri, relPath: string, checkpoint: string): vscode.Uri {
  return vscode.Uri.joinPath(folder, relPath).with({ scheme: CHECKPOINT_SCHEME, query: checkpoint });
}

/** The workspace-relative path of a checkpoint URI (inverse of checkpointUri). */
export function checkpointRelPath(folder: vscode.Uri, uri: vscode.Uri): string {
  const rel = path.posix.relative(folder.path, uri.path);
  return rel.startsWith('..') ? uri.path.replace(/^\//, '') : rel;
}

export class CheckpointContentProvider implements vscode.TextDocumentContentProvider {
  // Checkpoints are commits: their contents never change, so a cache is always right.
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly server: ServerManager,
    private readonly folder: vscode.Uri,
  ) {}

  async read(relPath: string, checkpoint: string): Promise<FileAtCheckpointPayload> {
    return this.server.execute<FileAtCheckpointPayload>(fileAtCheckpointArgs(checkpoint, relPath));
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const key = uri.toString();
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const relPath = checkpointRelPath(this.folder, uri);
    const r = await this.read(relPath, uri.query);
    const text = !r.exists ? '' : r.binary ? `(binary file ${relPath}: not shown)` : (r.text ?? '');
    this.cache.set(key, text);
    return text;
  }
}

/** In-memory Markdown documents (plan versions), updated in place. */
export class PlanDocumentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly docs = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;

  set(uri: vscode.Uri, text: string): void {
    const key = uri.toString();
    if (this.docs.get(key) === text) return;
    this.docs.set(key, text);
    this.emitter.fire(uri);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.docs.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

export function planDocUri(name: string, query = ''): vscode.Uri {
  return vscode.Uri.from({ scheme: PLAN_SCHEME, path: `/${name}`, query });
}

export class StepDiffs {
  constructor(
    private readonly server: ServerManager,
    private readonly checkpoints: CheckpointContentProvider,
    private readonly folder: vscode.Uri,
  ) {}

  /** The right-hand side: the live file when it still is what the step left, else the snapshot. */
  private async rightSide(file: DiffFile, after: string | null): Promise<vscode.Uri> {
    if (!after) return vscode.Uri.joinPath(this.folder, file.path);
    const snapshot = checkpointUri(this.folder, file.path, after);
    if (file.status === 'deleted') return snapshot;
    const onDisk = vscode.Uri.joinPath(this.folder, file.path);
    try {
      const [disk, atAfter] = await Promise.all([
        vscode.workspace.fs.readFile(onDisk),
        this.checkpoints.read(file.path, after),
      ]);
      if (atAfter.exists && !atAfter.binary && Buffer.from(disk).toString('utf8') === atAfter.text) {
        return onDisk;
      }
    } catch {
      // missing on disk now, or unreadable: the snapshot is what the step produced
    }
    return snapshot;
  }

  private leftSide(file: DiffFile, before: string | null): vscode.Uri {
    const p = file.status === 'renamed' && file.oldPath ? file.oldPath : file.path;
    return checkpointUri(this.folder, p, before ?? '');
  }

  async fetch(stepId: string): Promise<StepDiffPayload> {
    return this.server.execute<StepDiffPayload>(stepDiffArgs(stepId));
  }

  /** Every file of the step in one multi-diff editor. */
  async showStep(stepId: string, stepTitle: string): Promise<number> {
    const diff = await this.fetch(stepId);
    if (!diff.files.length) {
      void vscode.window.showInformationMessage(`Step "${stepTitle}" changed no files.`);
      return 0;
    }
    const resources: [vscode.Uri, vscode.Uri, vscode.Uri][] = [];
    for (const f of diff.files) {
      resources.push([
        vscode.Uri.joinPath(this.folder, f.path),
        this.leftSide(f, diff.checkpointBefore),
        await this.rightSide(f, diff.checkpointAfter),
      ]);
    }
    const title = `planloop: changes of step "${stepTitle}"`;
    try {
      await vscode.commands.executeCommand('vscode.changes', title, resources);
    } catch {
      // Older VS Code without the multi-diff editor: one diff per file.
      for (const [, left, right] of resources) {
        await vscode.commands.executeCommand('vscode.diff', left, right, `${title}: ${right.path}`, {
          preview: false,
        });
      }
    }
    return diff.files.length;
  }

  /** One file of a step, from a click on its row. */
  async showFile(stepId: string, relPath: string): Promise<void> {
    const diff = await this.fetch(stepId);
    const f = diff.files.find((x) => x.path === relPath);
    if (!f) {
      void vscode.window.showInformationMessage(`${relPath} has no changes in step "${stepId}" any more.`);
      return;
    }
    const left = this.leftSide(f, diff.checkpointBefore);
    const right = await this.rightSide(f, diff.checkpointAfter);
    await vscode.commands.executeCommand('vscode.diff', left, right, `${relPath} (step ${stepId})`, {
      preview: true,
    });
  }
}
