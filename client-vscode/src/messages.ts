/**
 * Wording and small decisions behind the notifications, pure so they are unit tested:
 * what a finished run says, which unsaved files block a step, what a revert reports, and which
 * settings are sent to the server.
 */

import * as path from 'node:path';
import { runCost, statusText } from './planModel';
import type { PlanPayload, RevertPayload, RunPayload } from './protocol';

export type Severity = 'info' | 'warning' | 'error';

export interface UserMessage {
  severity: Severity;
  text: string;
}

export function runOutcomeMessage(run: RunPayload): UserMessage {
  const p = run.plan;
  const progress = p ? `${p.progress.done}/${p.progress.total} steps, ${runCost(p)}` : '';
  const reason = run.reason ? `: ${run.reason}` : '';
  const step = run.stepId ? p?.plan.steps.find((s) => s.id === run.stepId) : undefined;
  switch (run.state) {
    case 'done':
      return { severity: 'info', text: `planloop: every step passed (${progress}).` };
    case 'awaiting_approval':
      return {
        severity: 'info',
        text: `planloop is waiting for your decision${reason}. Use "Review Pending Decision" in the Plan view.`,
      };
    case 'paused':
      return { severity: 'info', text: `planloop paused${reason} (${progress}).` };
    case 'stopped':
      return { severity: 'warning', text: `planloop stopped${reason} (${progress}).` };
    case 'cancelled':
      return { severity: 'info', text: `planloop: run cancelled (${progress}).` };
    case 'error':
      return { severity: 'error', text: `planloop failed${reason}` };
    default:
      if (step) {
        const ok = step.status === 'passed' || step.status === 'skipped';
        return {
          severity: ok ? 'info' : 'warning',
          text: `planloop: step "${step.title}" ${statusText(step.status)}${reason} (${progress}).`,
        };
      }
      return { severity: 'info', text: `planloop: ${run.state}${reason} (${progress}).` };
  }
}

export function revertMessage(r: RevertPayload): UserMessage {
  const restored = r.restored.length;
  const head = restored
    ? `Reverted step "${r.stepId}": restored ${restored} file${restored === 1 ? '' : 's'} (${r.restored.join(', ')}).`
    : `Step "${r.stepId}": nothing was restored.`;
  if (!r.conflicts.length) return { severity: 'info', text: head };
  const conflicts = r.conflicts.map((c) => `${c.path} (${c.reason})`).join('; ');
  return {
    severity: 'warning',
    text: `${head} Not restored because they changed since the step: ${conflicts}.`,
  };
}

/**
 * Dirty editor buffers a run could collide with, as workspace-relative posix paths.
 * `only` (relative paths a step lists) narrows it to one step's files; without it every dirty
 * file inside the workspace counts, because Run All may touch any of them.
 */
export function unsavedFilesInScope(
  dirtyFsPaths: readonly string[],
  rootFsPath: string,
  only?: readonly string[],
): string[] {
  const root = path.resolve(rootFsPath);
  const wanted = only ? new Set(only.map((p) => path.posix.normalize(p.replace(/\\/g, '/')))) : undefined;
  const out: string[] = [];
  for (const fsPath of dirtyFsPaths) {
    const rel = path.relative(root, path.resolve(fsPath));
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) continue;
    const posixRel = rel.split(path.sep).join('/');
    if (wanted && !wanted.has(posixRel)) continue;
    out.push(posixRel);
  }
  return out.sort();
}

export function unsavedPrompt(relPaths: readonly string[]): string {
  const shown = relPaths.slice(0, 5).join(', ');
  const more = relPaths.length > 5 ? ` and ${relPaths.length - 5} more` : '';
  return (
    `${relPaths.length} file${relPaths.length === 1 ? ' has' : 's have'} unsaved changes (${shown}${more}). ` +
    'planloop never overwrites unsaved editor changes: save them first, or cancel.'
  );
}

/** What `vscode.WorkspaceConfiguration.inspect()` returns, reduced to what we read. */
export interface InspectLike {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

const SERVER_SETTINGS: readonly string[] = [
  'planner',
  'executor',
  'workspaceChecks',
  'budgets.replans',
  'budgets.usd',
  'budgets.tokens',
  'budgets.executorTurns',
  'commandPolicy.allow',
  'commandPolicy.deny',
  'sandbox',
  'sandboxNetwork',
  'sandboxWritable',
  'reviewPlanFirst',
  'mode',
  'jointMaxSteps',
  'rulesMaxBytes',
  'plansInRepo',
  'plannerQuestions',
];

/**
 * The "planloop" settings the server gets (initializationOptions and workspace/configuration).
 * Only values the user actually set are sent: package.json defaults would otherwise override
 * planloop.toml, which the server falls back to. Blank strings count as unset.
 */
export function explicitServerSettings(
  inspect: (key: string) => InspectLike | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of SERVER_SETTINGS) {
    const i = inspect(key);
    if (!i) continue;
    let v = i.workspaceFolderValue;
    if (v === undefined) v = i.workspaceValue;
    if (v === undefined) v = i.globalValue;
    if (v === undefined || v === null) continue;
    if (typeof v === 'string' && !v.trim()) continue;
    const parts = key.split('.');
    let target = out;
    for (const p of parts.slice(0, -1)) {
      if (typeof target[p] !== 'object' || target[p] === null) target[p] = {};
      target = target[p] as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = typeof v === 'string' ? v.trim() : v;
  }
  return out;
}

/** The settings whose change means the server must be told (or restarted, for python). */
export function affectsServer(changed: (section: string) => boolean): 'restart' | 'notify' | 'none' {
  if (changed('planloop.python')) return 'restart';
  return changed('planloop') ? 'notify' : 'none';
}

/** A short line for the progress notification from a `planloop/stepEvent`. */
export function progressLine(payload: PlanPayload | null | undefined, stepId: string, line: string): string {
  const step = payload?.plan.steps.find((s) => s.id === stepId);
  const title = step ? step.title : stepId;
  return line ? `${title}: ${line}` : title;
}
