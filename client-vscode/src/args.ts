/**
 * Argument objects for the server's commands, built and validated in one place.
 *
 * The contract is `arguments: [ {one object} ]` with camelCase keys; a wrong key is not an error
 * the server can always catch (an optional field silently ignored), so the shapes live here, are
 * typed, and are unit tested. No `vscode` import: commands.ts gathers input, this builds it.
 */

import { ServerCommand, type ServerCommandId } from './protocol';

export interface ExecuteCommandParams {
  command: ServerCommandId;
  arguments: [Record<string, unknown>];
}

export class ArgumentError extends Error {}

function params(command: ServerCommandId, arg: Record<string, unknown>): ExecuteCommandParams {
  // Drop undefined fields: "absent" and "null" may differ to the server, and JSON drops undefined
  // anyway; doing it here keeps the tests honest about what goes on the wire.
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(arg)) {
    if (v !== undefined) clean[k] = v;
  }
  return { command, arguments: [clean] };
}

function requireStepId(stepId: string | undefined, what: string): string {
  if (!stepId || !stepId.trim()) {
    throw new ArgumentError(`${what} needs a step: pick one in the Plan view.`);
  }
  return stepId.trim();
}

export function createPlanArgs(goal: string | undefined): ExecuteCommandParams {
  const g = (goal ?? '').trim();
  if (!g) throw new ArgumentError('A plan needs a goal: describe what you want changed.');
  return params(ServerCommand.createPlan, { goal: g });
}

export function answerArgs(text: string | undefined): ExecuteCommandParams {
  const t = (text ?? '').trim();
  if (!t) throw new ArgumentError('An answer needs some text: pick an option or type your own.');
  return params(ServerCommand.answer, { text: t });
}

export function doctorArgs(): ExecuteCommandParams {
  return params(ServerCommand.doctor, {});
}

export function getPlanArgs(planId?: string): ExecuteCommandParams {
  return params(ServerCommand.getPlan, { planId });
}

export function runStepArgs(stepId?: string): ExecuteCommandParams {
  return params(ServerCommand.runStep, { stepId: stepId?.trim() || undefined });
}

export function runAllArgs(): ExecuteCommandParams {
  return params(ServerCommand.runAll, {});
}

export function stepDiffArgs(stepId: string | undefined): ExecuteCommandParams {
  return params(ServerCommand.stepDiff, { stepId: requireStepId(stepId, 'Show Step Changes') });
}

export function fileAtCheckpointArgs(checkpoint: string, path: string): ExecuteCommandParams {
  if (!checkpoint) throw new ArgumentError('No checkpoint to read from.');
  if (!path) throw new ArgumentError('No file path given.');
  return params(ServerCommand.fileAtCheckpoint, { checkpoint, path });
}

export function revertStepArgs(stepId: string | undefined, paths?: string[]): ExecuteCommandParams {
  return params(ServerCommand.revertStep, {
    stepId: requireStepId(stepId, 'Revert Step'),
    paths: paths && paths.length ? paths : undefined,
  });
}

export function replanArgs(reason?: string, goal?: string): ExecuteCommandParams {
  return params(ServerCommand.replan, {
    reason: reason?.trim() || undefined,
    goal: goal?.trim() || undefined,
  });
}

export function decideRevisionArgs(
  version: number | undefined,
  approve: boolean,
  feedback?: string,
): ExecuteCommandParams {
  if (version === undefined || !Number.isInteger(version) || version < 1) {
    throw new ArgumentError('There is no proposed plan version to decide on.');
  }
  return params(ServerCommand.decideRevision, {
    version,
    approve,
    feedback: feedback?.trim() || undefined,
  });
}

export function approvePauseArgs(stepId: string | undefined): ExecuteCommandParams {
  return params(ServerCommand.approvePause, { stepId: requireStepId(stepId, 'Approving a pause') });
}

/** Answers whatever question waits (plan review, pause, budget), yes or no. */
export function decidePendingArgs(approve: boolean, feedback?: string): ExecuteCommandParams {
  return params(ServerCommand.decidePending, { approve, feedback: feedback?.trim() || undefined });
}

export function cancelArgs(): ExecuteCommandParams {
  return params(ServerCommand.cancel, {});
}

/**
 * The step a command applies to: commands run from the palette get nothing, from a tree row
 * get that row's node (a step or one of its children), from code get a plain step id.
 */
export function stepIdFromCommandArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg || undefined;
  if (arg && typeof arg === 'object' && 'stepId' in arg) {
    const id = (arg as { stepId?: unknown }).stepId;
    return typeof id === 'string' && id ? id : undefined;
  }
  return undefined;
}
