/**
 * State shared by one client's dispatchers, heartbeat and maintenance: the connection, the
 * registered workers, the attempts in flight, the completer and the event listeners.
 * @module
 */
import type { Sql } from "postgres";
import type { Completer } from "./completer.ts";
import type { Attempt } from "./dispatcher.ts";
import type { FinalizedRow } from "./queries.ts";
import type { ClientEvents, Job, WorkerEntry } from "./types.ts";

type Listener<E extends keyof ClientEvents> = (event: ClientEvents[E]) => unknown;

/** Internal runtime state; not exported from mod.ts. */
export class RuntimeCore {
  readonly sql: Sql;
  readonly schema: string;
  readonly instanceId: string;
  readonly workers: Map<string, WorkerEntry> = new Map();
  readonly attempts: Map<string, Attempt> = new Map();
  completer!: Completer;
  #listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();

  constructor(sql: Sql, schema: string, instanceId: string) {
    this.sql = sql;
    this.schema = schema;
    this.instanceId = instanceId;
  }

  track(a: Attempt): void {
    this.attempts.set(`${a.job.id}:${a.job.runLease}`, a);
  }

  untrack(a: Attempt): void {
    this.attempts.delete(`${a.job.id}:${a.job.runLease}`);
  }

  on<E extends keyof ClientEvents>(event: E, fn: Listener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(fn as Listener<never>);
    return () => set!.delete(fn as Listener<never>);
  }

  /** Deliver an event to its listeners; a failing listener never affects the job. */
  emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) {
      if (event === "error") {
        const e = payload as ClientEvents["error"];
        console.error(`awa: ${e.where}:`, e.error);
      }
      return;
    }
    for (const fn of set) {
      try {
        const r = (fn as Listener<E>)(payload);
        if (r && typeof (r as Promise<void>).catch === "function") {
          (r as Promise<void>).catch((err) => console.error(`awa: ${event} listener failed:`, err));
        }
      } catch (err) {
        console.error(`awa: ${event} listener failed:`, err);
      }
    }
  }

  emitError(error: unknown, where: string): void {
    this.emit("error", { error, where });
  }

  /** Emit the lifecycle event matching a committed finalization. */
  emitOutcome(
    job: Job<unknown>,
    row: FinalizedRow,
    info: { result: unknown; error: string; durationMs: number },
  ): void {
    switch (row.state) {
      case "completed":
        this.emit("completed", { job, result: info.result, durationMs: info.durationMs });
        break;
      case "retryable":
        this.emit("retried", { job, error: info.error, runAt: row.run_at });
        break;
      case "scheduled":
        this.emit("snoozed", { job, runAt: row.run_at });
        break;
      case "cancelled":
        this.emit("cancelled", { job, reason: info.error });
        break;
      case "failed": {
        const payload = { job, error: info.error, dlq: row.held === "dlq" };
        if (row.outcome === "fail") this.emit("failed", payload);
        else this.emit("exhausted", payload);
        break;
      }
    }
  }
}
