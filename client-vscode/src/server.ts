/**
 * The planloop language server's lifecycle: start, stop, restart, crash.
 *
 * One LanguageClient per window, for the first workspace folder. Handlers for the server's
 * notifications and approval requests are registered before `start()` and again on every
 * restart, so a restarted server talks to the same tree. The API key goes only into the server
 * process's environment (from SecretStorage), never over LSP. A crash is shown once, with
 * Restart; the client does not silently respawn a server that may be crashing on a bad state.
 */

import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  type ClientCapabilities,
  type FeatureState,
  LanguageClient,
  type LanguageClientOptions,
  ResponseError,
  type ServerOptions,
  State,
  type StaticFeature,
  TransportKind,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';
import { KEY_PROVIDERS, secretName, serverEnv } from './apiKeyLogic';
import type { ExecuteCommandParams } from './args';
import { explicitServerSettings } from './messages';
import { Method, type AnswerReply, type ApprovalAnswer, type PlanPayload, type StepEvent } from './protocol';
import { DirtyBufferSync } from './buffers';
import { lensCommand, PLAN_DOCUMENT_SELECTOR } from './planDocumentLogic';
import { PythonError, resolvePython } from './python';
import { bundledRipgrep } from './ripgrep';

/** How long the server waits for an answer to an approval before the run just waits. */
const APPROVAL_TIMEOUT_S = 1800;

export type ServerState = 'stopped' | 'starting' | 'running' | 'failed';

export interface ServerHandlers {
  planChanged(payload: PlanPayload): void;
  stepEvent(event: StepEvent): void;
  requestApproval(params: unknown): Promise<ApprovalAnswer | null>;
  requestAnswer(params: unknown): Promise<AnswerReply | null>;
  /** The server process ended without us stopping it. */
  crashed(message: string): void;
  /** A (re)started server is ready: reload the plan from it. */
  started(): void;
  /** Server work-done progress; true when a notification of ours took it over. */
  workDoneProgress(value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): boolean;
}

/**
 * Declares `experimental.planloopApprovals`, so the server sends planloop/requestApproval,
 * `experimental.planloopQuestions` (planloop/requestAnswer: the planner's questions), and
 * `experimental.planloopNotifications`, without which it sends no planloop/planChanged or
 * planloop/stepEvent (plain clients do not want them).
 */
class ApprovalsCapability implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const exp = (capabilities.experimental ?? {}) as Record<string, unknown>;
    exp.planloopApprovals = true;
    exp.planloopQuestions = true;
    exp.planloopNotifications = true;
    capabilities.experimental = exp;
  }
  initialize(): void {}
  getState(): FeatureState {
    return { kind: 'static' };
  }
  clear(): void {}
}

export class NotRunningError extends Error {}
/** A request lost because the server died; the crash message (with Restart) already says so. */
export class ServerCrashedError extends NotRunningError {}

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient> | undefined;
  private stopping = false;
  private _state: ServerState = 'stopped';
  private lastFailure = '';
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly buffers: DirtyBufferSync;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly folder: vscode.WorkspaceFolder,
    private readonly log: vscode.LogOutputChannel,
    private readonly handlers: ServerHandlers,
  ) {
    this.buffers = new DirtyBufferSync(folder.uri, log);
  }

  get state(): ServerState {
    return this._state;
  }

  private setState(s: ServerState): void {
    this._state = s;
    void vscode.commands.executeCommand('setContext', 'planloop.serverState', s);
    this.stateEmitter.fire(s);
  }

  /** Start once; concurrent callers share the same start. */
  start(): Promise<LanguageClient> {
    if (this.client && this.client.state === State.Running) return Promise.resolve(this.client);
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private settings(): Record<string, unknown> {
    const cfg = vscode.workspace.getConfiguration('planloop', this.folder.uri);
    return explicitServerSettings((key) => cfg.inspect(key));
  }

  private async doStart(): Promise<LanguageClient> {
    this.setState('starting');
    let python: string;
    try {
      python = await resolvePython(this.context, this.folder.uri, this.log);
    } catch (e) {
      this.setState('failed');
      this.lastFailure = (e as Error).message;
      throw e;
    }
    const keys: Record<string, string | undefined> = {};
    for (const p of KEY_PROVIDERS) keys[p.id] = await this.context.secrets.get(secretName(p.id));
    const env = serverEnv({ ...process.env, PYTHONUNBUFFERED: '1' }, keys) as NodeJS.ProcessEnv;
    // the editor's bundled ripgrep for the server's search (PATH or the wheel's otherwise)
    const rg = env.PLANLOOP_RG ? undefined : bundledRipgrep(vscode.env.appRoot);
    if (rg) env.PLANLOOP_RG = rg;
    const serverOptions: ServerOptions = {
      command: python,
      args: ['-m', 'planloop.lsp'],
      transport: TransportKind.stdio,
      options: { cwd: this.folder.uri.fsPath, env },
    };
    const clientOptions: LanguageClientOptions = {
      // Automatic document sync for the plan document only (diagnostics, lenses, hover, save:
      // planDocumentLogic.ts); every other file: DirtyBufferSync sends unsaved buffers only.
      documentSelector: PLAN_DOCUMENT_SELECTOR,
      workspaceFolder: this.folder,
      outputChannel: this.log,
      traceOutputChannel: this.log,
      initializationOptions: {
        ...this.settings(),
        approvalTimeoutS: APPROVAL_TIMEOUT_S,
        // a folder's planloop.toml may set the keys that send credentials or widen what
        // runs only in a trusted folder: VS Code's workspace trust is that answer here
        workspaceTrusted: vscode.workspace.isTrusted,
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          this.buffers.detach();
          if (!this.stopping) {
            this.setState('failed');
            this.lastFailure = 'the server process stopped unexpectedly';
            this.handlers.crashed(
              "planloop's language server stopped unexpectedly. The plan on disk is intact; restart to continue from its last saved state.",
            );
          }
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      initializationFailedHandler: (error) => {
        this.log.error(`initialize failed: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
      middleware: {
        // The plan document's lenses run the tree's commands (busy flag, confirmations, diffs).
        provideCodeLenses: async (document, token, next) => {
          const lenses = await next(document, token);
          for (const lens of lenses ?? []) {
            const ui = lens.command ? lensCommand(lens.command.command) : undefined;
            if (lens.command && ui) lens.command = { ...lens.command, command: ui };
          }
          return lenses;
        },
        handleWorkDoneProgress: (_token, params, next) => {
          const taken = this.handlers.workDoneProgress(params);
          // 'end' always goes through, so the client's own progress part is cleaned up.
          if (!taken || params.kind === 'end') next(_token, params);
        },
        workspace: {
          // Only settings the user set: package.json defaults must not override planloop.toml.
          configuration: async (params, token, next) => {
            if (params.items.every((i) => i.section === 'planloop')) {
              return params.items.map(() => this.settings());
            }
            const result = await next(params, token);
            if (!Array.isArray(result)) return result;
            return params.items.map((i, n) => (i.section === 'planloop' ? this.settings() : result[n]));
          },
        },
      },
    };
    const client = new LanguageClient('planloop', 'planloop', serverOptions, clientOptions);
    client.registerFeature(new ApprovalsCapability());
    client.onNotification(Method.planChanged, (p: PlanPayload) => this.handlers.planChanged(p));
    client.onNotification(Method.stepEvent, (e: StepEvent) => this.handlers.stepEvent(e));
    client.onRequest(Method.requestApproval, (params: unknown) => this.handlers.requestApproval(params));
    client.onRequest(Method.requestAnswer, (params: unknown) => this.handlers.requestAnswer(params));
    this.client = client;
    this.stopping = false;
    this.log.info(`starting ${python} -m planloop.lsp in ${this.folder.uri.fsPath}`);
    try {
      await client.start();
    } catch (e) {
      this.setState('failed');
      const msg = e instanceof Error ? e.message : String(e);
      this.lastFailure = msg;
      this.stopping = true;
      await client.dispose().catch(() => undefined);
      this.client = undefined;
      throw new PythonError(`planloop's language server did not start with ${python}: ${msg}`, 'showLog');
    }
    this.buffers.attach(client);
    this.setState('running');
    this.handlers.started();
    return client;
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) {
      this.setState('stopped');
      return;
    }
    this.stopping = true;
    this.buffers.detach();
    try {
      if (c.state !== State.Stopped) await c.stop(5000);
    } catch (e) {
      this.log.warn(`stopping the server: ${(e as Error).message}`);
    }
    await c.dispose().catch(() => undefined);
    this.setState('stopped');
  }

  async restart(): Promise<LanguageClient> {
    await this.stop();
    return this.start();
  }

  /** Tell the server its settings changed (it pulls the new values). */
  notifyConfigurationChanged(): void {
    if (this.client?.state === State.Running) {
      void this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { planloop: this.settings() },
      });
    }
  }

  /**
   * Run a server command. Starts the server when it is not running yet; after a crash the
   * user restarts explicitly (the crash message says so) rather than on the next click.
   */
  async execute<T>(params: ExecuteCommandParams, token?: vscode.CancellationToken): Promise<T> {
    if (this._state === 'failed' && !this.starting) {
      throw new NotRunningError(
        `planloop's language server is not running (${this.lastFailure}). Use "Planloop: Restart Server".`,
      );
    }
    const client = await this.start();
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, params, token)) as T;
    } catch (e) {
      if (this._state === 'failed' || client.state !== State.Running) {
        throw new ServerCrashedError("planloop's language server stopped while handling the request.");
      }
      if (e instanceof ResponseError) throw new Error(e.message);
      throw e;
    }
  }

  dispose(): void {
    void this.stop();
    this.buffers.dispose();
    this.stateEmitter.dispose();
  }
}
