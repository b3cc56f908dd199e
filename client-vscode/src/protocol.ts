/**
 * The LSP wire contract with planloop's server, as types. The server's contract is
 * server/planloop/lsp/contract.py (docs/protocol.md is generated from it);
 * tests/lsp/test_lsp_client_types.py fails when these interfaces and that contract disagree.
 *
 * Kept free of any `vscode` import so the pure modules that use it run under plain node tests.
 * Plan fields are snake_case because they are plan.py's `model_dump(mode="json")` verbatim;
 * the envelope around them is camelCase because that is what the server's LSP layer sends.
 */

export type StepStatus =
  | 'pending'
  | 'running'
  | 'passed'
  | 'failed'
  | 'blocked'
  | 'skipped'
  | 'awaiting_approval'
  | 'reverted';

export type RunState =
  | 'idle'
  | 'running'
  | 'done'
  | 'awaiting_approval'
  | 'paused'
  | 'stopped'
  | 'cancelled'
  | 'error';

export interface Check {
  kind: 'command' | 'file_exists' | 'file_contains' | 'mcp';
  description?: string;
  command?: string | null;
  path?: string | null;
  pattern?: string | null;
  timeout_s?: number;
  /** An mcp check's tool (mcp__SERVER__TOOL) and its arguments. */
  tool?: string | null;
  arguments?: Record<string, unknown> | null;
}

export interface CheckResult {
  check: Check;
  passed: boolean;
  observation: string;
  workspace_check: boolean;
}

export interface FileChange {
  path: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed' | 'typechange';
  old_path?: string | null;
  added: number;
  removed: number;
  binary: boolean;
}

export interface Outcome {
  ok: boolean;
  summary: string;
  surprising?: boolean;
  surprising_why?: string;
  blocked?: boolean;
  blocked_why?: string;
  observations?: string[];
}

export interface StepResult {
  outcome: Outcome | null;
  checks: CheckResult[];
  files_changed: FileChange[];
  checkpoint_before: string | null;
  checkpoint_after: string | null;
  usage?: Record<string, unknown>;
  cost_usd: number;
  duration_s: number;
  error: string | null;
}

export interface Step {
  id: string;
  title: string;
  kind: 'edit' | 'command' | 'pause';
  instructions: string;
  files: string[];
  expected_output: string;
  acceptance: Check[];
  depends_on: string[];
  status: StepStatus;
  attempts: number;
  result: StepResult | null;
  attempt_log: Attempt[];
}

/** One attempt at a step, counted or not (see "What ends an attempt" in the README). */
export interface Attempt {
  n: number;
  before: string;
  after: string | null;
  partial: string | null;
  ended: 'running' | 'passed' | 'failed' | 'blocked' | 'model_error' | 'cancelled' | 'interrupted';
  counted: boolean;
  files: string[];
  error: string | null;
  started_at: string;
}

export interface Revision {
  trigger: string;
  reason: string;
  evidence: string[];
  decided?: 'approved' | 'rejected' | null;
}

export interface Plan {
  plan_id: string;
  version: number;
  goal: string;
  steps: Step[];
  parent_version?: number | null;
  revision?: Revision | null;
  created_at?: string;
}

/** What a waiting question carries, both in `getPlan`'s `pending` and in planloop/requestApproval. */
interface Question {
  version?: number;
  stepId?: string;
  reason: string;
  evidence: string[];
  currentMarkdown: string;
  proposedMarkdown?: string;
  /** For kind "command": the shell command the executor wants to run (only asked live). */
  command?: string;
}

/** The question a run waits on (`getPlan` → `pending`); command approvals are never persisted. */
export interface Pending extends Question {
  kind: PendingKind;
  askedAt: string;
  /** kind 'question': the planner's clarifying question and the answers it offers. */
  question?: string;
  options?: string[];
}

/** The planloop/requestAnswer params: the planner's clarifying question. */
export interface AnswerRequest {
  question: string;
  options: string[];
  askedAt: string;
}

/** The answer to planloop/requestAnswer (`null` instead: not now, planning waits). */
export interface AnswerReply {
  answer: string;
}

export interface PlanPayload {
  plan: Plan;
  markdown: string;
  state: RunState;
  reason: string;
  costUsd: number;
  /** False when some calls went to a model with no price: show `costText`, never $0.00. */
  costKnown: boolean;
  /** The cost as it must be shown: `$0.0123` or `12,345 tokens, cost unknown`. */
  costText: string;
  /** Every token the run was billed, for any model. */
  tokens: number;
  progress: { done: number; total: number };
  pending: Pending | null;
  /** state says running, but no process runs it: the next run resumes it */
  interrupted: boolean;
}

export interface RunPayload {
  state: RunState;
  reason: string;
  stepId?: string;
  plan: PlanPayload;
}

export interface DiffFile {
  path: string;
  status: FileChange['status'];
  oldPath: string | null;
  added: number;
  removed: number;
  binary: boolean;
  patch: string;
}

export interface StepDiffPayload {
  stepId: string;
  checkpointBefore: string | null;
  checkpointAfter: string | null;
  files: DiffFile[];
}

export interface FileAtCheckpointPayload {
  path: string;
  checkpoint: string;
  exists: boolean;
  text: string | null;
  binary: boolean;
}

export interface RevertPayload {
  stepId: string;
  restored: string[];
  conflicts: { path: string; reason: string }[];
  plan: PlanPayload;
}

export interface ReplanPayload {
  proposal: PlanPayload;
  decision: 'approved' | 'rejected' | 'pending';
  plan: PlanPayload;
  state: RunState;
  reason: string;
}

export interface LogPayload {
  /** The plan's events, oldest first, as `planloop log --json` prints them. */
  events: Record<string, unknown>[];
}

export interface CleanPayload {
  freedBytes: number;
  inUseBytes: number;
}

/** planloop.clean with `resetShadow`: where the checkpoint repository went (null: there was none). */
export interface ResetShadowPayload {
  movedTo: string | null;
}

export interface CancelPayload {
  cancelled: boolean;
}

/** One role's model check (planloop.doctor): where it goes, whether its key is set, a live call. */
export interface ModelCheck {
  role: 'planner' | 'executor';
  spec: string;
  label: string;
  endpoint: string;
  /** The variable the key is read from; null when the endpoint takes none. */
  keyEnv: string | null;
  /** Whether that variable is set for the server (never its value). */
  keyPresent: boolean | null;
  ok: boolean;
  /** The live request's duration; null when none was made. */
  seconds: number | null;
  detail: string;
}

/** Whether model commands can run sandboxed here (docs/security.md). */
export interface SandboxCheck {
  mode: 'auto' | 'off';
  available: boolean;
  /** bwrap, sandbox-exec, off (the setting) or none (unavailable). */
  backend: string;
  summary: string;
  reason: string;
  fix: string;
  /** Commands will run: sandboxed, or unsandboxed by the user's explicit choice. */
  ok: boolean;
}

/** One MCP server (docs/mcp.md), started as a run would start it, then stopped. */
export interface McpServerCheck {
  name: string;
  /** stdio or http. */
  transport: string;
  /** Where it is defined: .vscode/mcp.json, .mcp.json, settings or client. */
  source: string;
  started: boolean;
  tools: number;
  /** Seconds from launch to its tool list; null when it did not start. */
  seconds: number | null;
  detail: string;
}

export interface DoctorPayload {
  ok: boolean;
  checks: ModelCheck[];
  sandbox: SandboxCheck;
  mcp: McpServerCheck[];
}

export interface StepEvent {
  /** null only for an event before the run's first save (a client may drop it). */
  planId: string | null;
  stepId: string;
  event: 'started' | 'tool' | 'check' | 'finished';
  line: string;
  status?: string;
  costUsd?: number;
  /** On `finished`: the step's cost as it must be shown. */
  costText?: string;
  /** On `check` events. */
  passed?: boolean;
}

/** What the server may ask about (approvals.py's ApprovalKind). */
export type ApprovalKind = 'plan' | 'revision' | 'pause' | 'budget' | 'command';
/** What a run can wait on after the live question went unanswered ('question': the planner's). */
export type PendingKind = Exclude<ApprovalKind, 'command'> | 'question';

/** The planloop/requestApproval params: the question plus the plan it is about. */
export interface ApprovalRequest extends Question {
  kind: ApprovalKind;
  planId: string;
}

export interface ApprovalAnswer {
  approve: boolean;
  feedback?: string;
  by?: string;
}

/** Server command ids. The extension's own command ids are `planloop.ui.*`, never these. */
export const ServerCommand = {
  createPlan: 'planloop.createPlan',
  getPlan: 'planloop.getPlan',
  runStep: 'planloop.runStep',
  runAll: 'planloop.runAll',
  stepDiff: 'planloop.stepDiff',
  fileAtCheckpoint: 'planloop.fileAtCheckpoint',
  revertStep: 'planloop.revertStep',
  replan: 'planloop.replan',
  decideRevision: 'planloop.decideRevision',
  approvePause: 'planloop.approvePause',
  decidePending: 'planloop.decidePending',
  answer: 'planloop.answer',
  setMode: 'planloop.setMode',
  log: 'planloop.log',
  clean: 'planloop.clean',
  cancel: 'planloop.cancel',
  doctor: 'planloop.doctor',
} as const;
export type ServerCommandId = (typeof ServerCommand)[keyof typeof ServerCommand];

export const Method = {
  planChanged: 'planloop/planChanged',
  stepEvent: 'planloop/stepEvent',
  requestApproval: 'planloop/requestApproval',
  requestAnswer: 'planloop/requestAnswer',
} as const;
