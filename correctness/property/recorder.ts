/**
 * Records what a property run did: the abstract `TraceEvent`s of correctness/trace_export.ts
 * (one per committed, state-changing transaction, in commit order) and a human-readable log
 * of every step, including the no-op ones (skipped rotations, empty claims).
 *
 * Some engine operations have no event in the spec's vocabulary (admin cancel of a deferred
 * or held job, re-finalizing an attempt the worker already finalized). They are logged and make
 * the trace "not exportable", with the reason.
 *
 * @module
 */
import type { TraceEvent } from "../trace_export.ts";

export class Recorder {
  readonly events: TraceEvent[] = [];
  readonly log: string[] = [];
  notExportable: string[] = [];

  event(e: TraceEvent): void {
    this.events.push(e);
  }

  step(line: string): void {
    this.log.push(line);
  }

  /** An operation the spec cannot express happened (the trace can no longer be exported). */
  outsideSpec(reason: string): void {
    this.notExportable.push(reason);
  }

  /** The events as one line each, for failure messages. */
  formatEvents(): string {
    return this.events.map((e, i) => `  ${i + 1}. ${JSON.stringify(e)}`).join("\n");
  }

  format(): string {
    return [
      `steps (${this.log.length}):`,
      ...this.log.map((l, i) => `  ${i + 1}. ${l}`),
      `trace events (${this.events.length}):`,
      this.formatEvents(),
    ].join("\n");
  }
}
