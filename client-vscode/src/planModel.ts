/**
 * The Plan view's content as plain data: PlanPayload in, tree nodes out.
 *
 * Why a separate pure model: everything a person reads in the tree (labels, icons, tooltips,
 * which rows can be reverted) is decided here and unit tested under node without VS Code;
 * planTree.ts only maps these nodes onto `vscode.TreeItem`s. Node ids are stable
 * (`step:<id>`, `step:<id>/check:<n>`, `step:<id>/file:<path>`, `step:<id>/cost`) so VS Code
 * keeps expansion and selection across the refreshes every server notification causes.
 */

import { approvalSubject } from './approvalFlow';
import type { CheckResult, Check, PlanPayload, Step, StepResult, StepStatus } from './protocol';

export interface IconSpec {
  /** A codicon id, e.g. `pass` or `sync~spin`. */
  id: string;
  /** A theme color id, e.g. `testing.iconPassed`. */
  color?: string;
}

export type NodeKind = 'goal' | 'pending' | 'step' | 'check' | 'file' | 'cost' | 'error';
export type NodeAction = 'openFileDiff' | 'reviewPending';

export interface PlanNode {
  id: string;
  kind: NodeKind;
  label: string;
  description?: string;
  tooltip?: string;
  icon?: IconSpec;
  /** Menus match on this (`viewItem =~ /^step;.*;changes/`). */
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  accessibilityLabel: string;
  stepId?: string;
  /** Workspace-relative posix path, for file rows. */
  filePath?: string;
  action?: NodeAction;
  children: PlanNode[];
}

const STATUS_ICON: Record<StepStatus, IconSpec> = {
  pending: { id: 'circle-large-outline' },
  running: { id: 'sync~spin' },
  passed: { id: 'pass-filled', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  blocked: { id: 'circle-slash', color: 'list.warningForeground' },
  skipped: { id: 'debug-step-over', color: 'disabledForeground' },
  awaiting_approval: { id: 'question', color: 'list.warningForeground' },
  reverted: { id: 'discard', color: 'disabledForeground' },
};

const STATUS_TEXT: Record<StepStatus, string> = {
  pending: 'pending',
  running: 'running',
  passed: 'passed',
  failed: 'failed',
  blocked: 'blocked',
  skipped: 'skipped',
  awaiting_approval: 'awaiting approval',
  reverted: 'reverted',
};

export function statusIcon(status: StepStatus): IconSpec {
  return STATUS_ICON[status] ?? { id: 'circle-large-outline' };
}

export function statusText(status: StepStatus): string {
  return STATUS_TEXT[status] ?? status;
}

/** Dollars as people read them: cents when it is at least a cent, else four decimals. */
export function formatUsd(usd: number | null | undefined): string {
  const v = typeof usd === 'number' && Number.isFinite(usd) ? usd : 0;
  if (v === 0) return '$0.00';
  return Math.abs(v) >= 0.01 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`;
}

/** A run's cost as shown: the server's `costText` when a model had no price (never $0.00). */
export function runCost(payload: Pick<PlanPayload, 'costUsd'> & Partial<PlanPayload>): string {
  if (payload.costKnown === false && payload.costText) return payload.costText;
  return formatUsd(payload.costUsd);
}

/**
 * A step's cost as shown. Its `usage` per role counts the calls made to a model with
 * no price (`unpriced_calls`) and their tokens: then the tokens and "cost unknown".
 */
export function stepCost(r: Pick<StepResult, 'cost_usd' | 'usage'>): string {
  let calls = 0;
  let unpricedCalls = 0;
  let unpricedTokens = 0;
  for (const u of Object.values(r.usage ?? {})) {
    if (!u || typeof u !== 'object') continue;
    const role = u as Record<string, unknown>;
    calls += typeof role.calls === 'number' ? role.calls : 0;
    unpricedCalls += typeof role.unpriced_calls === 'number' ? role.unpriced_calls : 0;
    unpricedTokens += typeof role.unpriced_tokens === 'number' ? role.unpriced_tokens : 0;
  }
  if (unpricedCalls === 0) return formatUsd(r.cost_usd);
  const unknown = `${unpricedTokens.toLocaleString('en-US')} tokens, cost unknown`;
  return unpricedCalls === calls ? unknown : `${formatUsd(r.cost_usd)} + ${unknown}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : 0;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** Same wording as plan.py's `Check.label()`, so the tree and plan.md agree. */
export function checkLabel(check: Check): string {
  if (check.description) return check.description;
  if (check.kind === 'command') return `\`${check.command ?? ''}\` exits 0`;
  if (check.kind === 'file_exists') return `${check.path ?? ''} exists`;
  return `${check.path ?? ''} contains /${check.pattern ?? ''}/`;
}

function firstLine(text: string | null | undefined, max = 80): string {
  const line = (text ?? '').split(/\r?\n/).find((l) => l.trim()) ?? '';
  const t = line.trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Steps the user may start by hand from the tree (the server still decides if it can run). */
export function isRunnable(step: Step): boolean {
  return ['pending', 'failed', 'reverted', 'blocked'].includes(step.status);
}

export function stepHasChanges(step: Step): boolean {
  return step.status !== 'reverted' && (step.result?.files_changed?.length ?? 0) > 0;
}

export function stepContextValue(step: Step): string {
  const parts = ['step', `status=${step.status}`];
  if (stepHasChanges(step)) parts.push('changes');
  if (isRunnable(step)) parts.push('runnable');
  if (step.status === 'awaiting_approval') parts.push('awaiting');
  return parts.join(';');
}

function checkNode(stepId: string, n: number, result: CheckResult): PlanNode {
  const label = checkLabel(result.check);
  const verdict = result.passed ? 'passed' : 'failed';
  const obs = result.observation?.trim() ?? '';
  return {
    id: `step:${stepId}/check:${n}`,
    kind: 'check',
    label,
    description: [result.workspace_check ? 'workspace check' : '', firstLine(obs, 60)]
      .filter(Boolean)
      .join(' · '),
    tooltip: `${result.passed ? '✓' : '✗'} ${label}${obs ? `\n\n${obs}` : ''}`,
    icon: result.passed
      ? { id: 'check', color: 'testing.iconPassed' }
      : { id: 'close', color: 'testing.iconFailed' },
    contextValue: `check;${verdict}`,
    collapsible: 'none',
    accessibilityLabel: `check ${label} ${verdict}${obs ? `: ${firstLine(obs, 200)}` : ''}`,
    stepId,
    children: [],
  };
}

function plannedCheckNode(stepId: string, n: number, check: Check): PlanNode {
  const label = checkLabel(check);
  return {
    id: `step:${stepId}/check:${n}`,
    kind: 'check',
    label,
    description: 'not run yet',
    tooltip: label,
    icon: { id: 'circle-small' },
    contextValue: 'check;planned',
    collapsible: 'none',
    accessibilityLabel: `check ${label} not run yet`,
    stepId,
    children: [],
  };
}

function stepChildren(step: Step): PlanNode[] {
  const out: PlanNode[] = [];
  const r = step.result;
  if (r && r.checks.length) {
    r.checks.forEach((c, i) => out.push(checkNode(step.id, i, c)));
  } else {
    step.acceptance.forEach((c, i) => out.push(plannedCheckNode(step.id, i, c)));
  }
  if (!r) return out;
  if (r.error) {
    out.push({
      id: `step:${step.id}/error`,
      kind: 'error',
      label: firstLine(r.error, 100),
      tooltip: r.error,
      icon: { id: 'warning', color: 'list.warningForeground' },
      contextValue: 'error',
      collapsible: 'none',
      accessibilityLabel: `error: ${firstLine(r.error, 200)}`,
      stepId: step.id,
      children: [],
    });
  }
  for (const f of r.files_changed) {
    const stat = f.binary ? 'binary' : `+${f.added} −${f.removed}`;
    const renamed = f.old_path ? ` (from ${f.old_path})` : '';
    out.push({
      id: `step:${step.id}/file:${f.path}`,
      kind: 'file',
      label: f.path,
      description: `${f.status} · ${stat}${renamed}`,
      tooltip: `${f.path}: ${f.status}${renamed}, ${stat}. Click to see this step's diff.`,
      contextValue: `file;${f.status}`,
      collapsible: 'none',
      accessibilityLabel: `file ${f.path} ${f.status}, ${f.added} added, ${f.removed} removed`,
      stepId: step.id,
      filePath: f.path,
      action: 'openFileDiff',
      children: [],
    });
  }
  out.push({
    id: `step:${step.id}/cost`,
    kind: 'cost',
    label: stepCost(r),
    description: formatDuration(r.duration_s),
    tooltip: `This step cost ${stepCost(r)} and took ${formatDuration(r.duration_s)}.`,
    icon: { id: 'credit-card' },
    contextValue: 'cost',
    collapsible: 'none',
    accessibilityLabel: `cost ${stepCost(r)}, ${formatDuration(r.duration_s)}`,
    stepId: step.id,
    children: [],
  });
  return out;
}

function stepTooltip(step: Step, index: number): string {
  const lines = [`${index}. ${step.title} (${step.id}) — ${step.kind}, ${statusText(step.status)}`];
  if (step.attempts > 1) lines.push(`attempts: ${step.attempts}`);
  if (step.instructions) lines.push('', step.instructions.trim());
  if (step.files.length) lines.push('', `files: ${step.files.join(', ')}`);
  const o = step.result?.outcome;
  if (o?.summary) lines.push('', `executor: ${o.summary}`);
  if (o?.blocked && o.blocked_why) lines.push(`blocked: ${o.blocked_why}`);
  if (o?.surprising && o.surprising_why) lines.push(`surprising: ${o.surprising_why}`);
  if (step.result?.error) lines.push(`error: ${step.result.error}`);
  return lines.join('\n');
}

function stepNode(step: Step, index: number, liveLine: string | undefined): PlanNode {
  const children = stepChildren(step);
  const status = statusText(step.status);
  const descParts = [status];
  if (step.attempts > 1) descParts.push(`attempt ${step.attempts}`);
  if (step.status === 'running' && liveLine) descParts.push(firstLine(liveLine, 60));
  const label = `${index}. ${step.title}`;
  return {
    id: `step:${step.id}`,
    kind: 'step',
    label,
    description: descParts.join(' · '),
    tooltip: stepTooltip(step, index),
    icon: statusIcon(step.status),
    contextValue: stepContextValue(step),
    collapsible: children.length
      ? step.status === 'failed' || step.status === 'blocked'
        ? 'expanded'
        : 'collapsed'
      : 'none',
    accessibilityLabel: `step ${label}, ${status}`,
    stepId: step.id,
    children,
  };
}

/**
 * The tree for a plan: a goal row, a row for a decision waiting on the user (if any), then a
 * row per step. `liveLines` holds the latest `planloop/stepEvent` line per step id.
 */
export function buildTree(
  payload: PlanPayload | null | undefined,
  liveLines: Readonly<Record<string, string>> = {},
): PlanNode[] {
  if (!payload?.plan) return [];
  const { plan } = payload;
  const nodes: PlanNode[] = [];
  const rev = plan.revision;
  const goalTooltip = [
    `Goal: ${plan.goal}`,
    `Plan ${plan.plan_id}, version ${plan.version}`,
    rev ? `Revision (${rev.trigger}): ${rev.reason}` : '',
    `State: ${payload.state} · ${payload.progress.done}/${payload.progress.total} steps · ${runCost(payload)}`,
  ]
    .filter(Boolean)
    .join('\n');
  nodes.push({
    id: 'plan',
    kind: 'goal',
    label: plan.goal,
    description: `v${plan.version} · ${payload.state.replace('_', ' ')} · ${runCost(payload)}`,
    tooltip: goalTooltip,
    icon: { id: 'target' },
    contextValue: 'goal',
    collapsible: 'none',
    accessibilityLabel: `goal ${plan.goal}, plan version ${plan.version}, ${payload.state}`,
    children: [],
  });
  const p = payload.pending;
  if (p) {
    const what = `waiting for you: ${approvalSubject(p)}`;
    nodes.push({
      id: 'pending',
      kind: 'pending',
      label: what,
      description: firstLine(p.reason, 60),
      tooltip: [p.reason, ...p.evidence.map((e) => `• ${e}`), '', 'Click to review.'].join('\n'),
      icon: { id: 'bell-dot', color: 'list.warningForeground' },
      contextValue: 'pending',
      collapsible: 'none',
      accessibilityLabel: `${what}: ${firstLine(p.reason, 200)}`,
      stepId: p.stepId,
      action: 'reviewPending',
      children: [],
    });
  }
  plan.steps.forEach((s, i) => nodes.push(stepNode(s, i + 1, liveLines[s.id])));
  return nodes;
}

/** `planloop 3/7 · $0.14`, with a spinner while something runs. */
export function statusBarText(payload: PlanPayload | null | undefined, busy: boolean): string {
  const spin = busy ? '$(sync~spin) ' : '';
  if (!payload?.plan) return `${spin}planloop`;
  const { done, total } = payload.progress;
  const wait = payload.pending ? ' $(bell-dot)' : '';
  return `${spin}planloop ${done}/${total} · ${runCost(payload)}${wait}`;
}

export function statusBarTooltip(payload: PlanPayload | null | undefined): string {
  if (!payload?.plan) return 'planloop: no plan yet. Click to open the Plan view.';
  const p = payload.plan;
  return [
    `planloop · ${p.goal}`,
    `plan v${p.version}: ${payload.progress.done} of ${payload.progress.total} steps done, ${payload.state}`,
    `cost so far ${runCost(payload)}`,
    payload.pending ? `waiting for you: ${payload.pending.reason}` : '',
    'Click to open the Plan view.',
  ]
    .filter(Boolean)
    .join('\n');
}

/** Files a step says it will touch, relative to the workspace, for the unsaved-files prompt. */
export function stepFiles(payload: PlanPayload | null | undefined, stepId: string): string[] {
  const s = payload?.plan.steps.find((x) => x.id === stepId);
  if (!s) return [];
  const changed = s.result?.files_changed.map((f) => f.path) ?? [];
  return [...new Set([...s.files, ...changed])];
}

/** The step `Run Next Step` would run, mirroring plan.py's `next_runnable` for the prompts. */
export function nextRunnableStep(payload: PlanPayload | null | undefined): Step | undefined {
  if (!payload) return undefined;
  const done = new Set(
    payload.plan.steps.filter((s) => s.status === 'passed' || s.status === 'skipped').map((s) => s.id),
  );
  return payload.plan.steps.find(
    (s) =>
      ['pending', 'failed', 'running', 'awaiting_approval', 'reverted'].includes(s.status) &&
      s.depends_on.every((d) => done.has(d)),
  );
}
