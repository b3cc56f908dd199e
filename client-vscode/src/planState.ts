/**
 * The window's view of the plan: the latest PlanPayload, live step lines, and whether this
 * window has a command in flight. Every UI part (tree, status bar, context keys) renders from
 * here and re-renders on `onChange`, so they cannot disagree. No `vscode` import (unit tested).
 */

import type { PlanPayload, StepEvent } from './protocol';

export type Listener = () => void;

export class PlanState {
  private _payload: PlanPayload | null = null;
  private _busy = 0;
  private readonly _live: Record<string, string> = {};
  private readonly listeners = new Set<Listener>();

  get payload(): PlanPayload | null {
    return this._payload;
  }

  get busy(): boolean {
    return this._busy > 0;
  }

  get liveLines(): Readonly<Record<string, string>> {
    return this._live;
  }

  get hasPlan(): boolean {
    return Boolean(this._payload?.plan);
  }

  onChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private fire(): void {
    for (const l of [...this.listeners]) l();
  }

  /** A plan from a notification or a command result (null: the server has no plan). */
  apply(payload: PlanPayload | null | undefined): void {
    if (payload === undefined) return;
    if (payload && this._payload && payload.plan.plan_id !== this._payload.plan.plan_id) {
      for (const k of Object.keys(this._live)) delete this._live[k];
    }
    this._payload = payload;
    // A live line only means something while its step runs.
    if (payload) {
      for (const s of payload.plan.steps) {
        if (s.status !== 'running') delete this._live[s.id];
      }
    }
    this.fire();
  }

  stepEvent(e: StepEvent): void {
    if (!e?.stepId) return;
    if (e.event === 'finished') delete this._live[e.stepId];
    else if (e.line) this._live[e.stepId] = e.line;
    this.fire();
  }

  /** Marks a command in flight for the duration of `work`. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this._busy++;
    this.fire();
    try {
      return await work();
    } finally {
      this._busy--;
      this.fire();
    }
  }
}
