/**
 * State shared by one client's dispatchers, heartbeat and maintenance: the connection, the
 * registered workers, the attempts in flight, the completer and the event listeners.
 * @module
 */
import type { Sql } from "postgres";
import { isTransientDbError, toDatabaseError } from "../db/classify.ts";
import { toExecutor } from "../db/executor.ts";
import type { AwaError } from "../errors.ts";
import { type Store, storeOf } from "../storage/store.ts";
import type { Completer } from "./completer.ts";
import type { Attempt } from "./dispatcher.ts";
import type { OutcomeEvent } from "./outcomes.ts";
import type { ClientEvents, WorkerEntry } from "./types.ts";

type Listener<E extends keyof ClientEvents> = (event: ClientEvents[E]) => unknown;

/** Repeats of one error (same `where` and code) within this window are counted, not logged. */
export const ERROR_LOG_WINDOW_MS = 10_000;
/** First wait after a failure of a retried operation, in ms; doubles per consecutive failure. */
export const FAILURE_BACKOFF_BASE_MS = 100;
/** Longest wait between retries of a failing operation, in ms. */
export const FAILURE_BACKOFF_MAX_MS = 2000;

/** Delay before retry number `failures` (1-based): doubling from `baseMs`, capped, ±20 % jitter. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(d * (0.8 + 0.4 * Math.random()));
}

interface ErrorLogState {
  /** When the current window started (first error logged in full). */
  since: number;
  /** Repeats in the current window not yet reported. */
  suppressed: number;
  last: AwaError;
}

/** Where console output of unhandled runtime errors goes; tests replace it. */
export type ErrorSink = (...data: unknown[]) => void;

/** Internal runtime state; not exported from mod.ts. */
export class RuntimeCore {
  /**
   * The postgres.js pool itself, for what the executor does not cover yet: the notifier's
   * LISTEN, the leader's fenced statements and lock session, and closing the pool. Storage
   * calls go through {@link store}.
   */
  readonly sql: Sql;
  readonly schema: string;
  readonly instanceId: string;
  readonly workers: Map<string, WorkerEntry> = new Map();
  readonly attempts: Map<string, Attempt> = new Map();
  completer!: Completer;
  #listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  #errorLog = new Map<string, ErrorLogState>();
  #failures = new Map<string, number>();
  /** Console path of `error` events nobody listens to. */
  errorSink: ErrorSink = (...data) => console.error(...data);
  /** Window of {@link ERROR_LOG_WINDOW_MS} by default; tests shorten it. */
  errorLogWindowMs = ERROR_LOG_WINDOW_MS;
  #store: Store | null = null;

  constructor(sql: Sql, schema: string, instanceId: string) {
    this.sql = sql;
    this.schema = schema;
    this.instanceId = instanceId;
  }

  /** The pool as a storage {@link Store} in this client's schema: every storage call takes it. */
  get store(): Store {
    // Built on first use: a core made for its error bookkeeping alone never needs a database.
    return this.#store ??= storeOf(toExecutor(this.sql), this.schema);
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
        this.#logError(e.where, e.error as AwaError);
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

  /**
   * Report a failed internal operation as an `error` event. Driver errors become a
   * {@link DatabaseError} (with `transient` set when a retry can cure them), so listeners only
   * ever see AwaErrors with a stable `code`.
   */
  emitError(error: unknown, where: string): void {
    this.emit("error", { error: toDatabaseError(error, where), where });
  }

  /**
   * How long (ms) a retried operation named `where` should wait after this failure: doubling
   * per consecutive failure from {@link FAILURE_BACKOFF_BASE_MS} up to
   * {@link FAILURE_BACKOFF_MAX_MS}; non-transient failures wait the longest. Call
   * {@link noteSuccess} when the operation succeeds again.
   */
  backoffAfter(where: string, err: unknown): number {
    const n = (this.#failures.get(where) ?? 0) + 1;
    this.#failures.set(where, n);
    if (!isTransientDbError(err)) return FAILURE_BACKOFF_MAX_MS;
    return backoffDelay(n, FAILURE_BACKOFF_BASE_MS, FAILURE_BACKOFF_MAX_MS);
  }

  /** The operation `where` succeeded: reset its backoff and report errors still being counted. */
  noteSuccess(where: string): void {
    if (this.#failures.size > 0) this.#failures.delete(where);
    if (this.#errorLog.size === 0) return;
    for (const [key, st] of this.#errorLog) {
      if (!key.startsWith(`${where}\u0000`)) continue;
      if (st.suppressed > 0) this.#logSummary(where, st, Date.now());
      this.#errorLog.delete(key);
    }
  }

  /** Log an unhandled error: the first of a kind in full, repeats as a count per window. */
  #logError(where: string, error: AwaError): void {
    const code = (error as { sqlState?: string }).sqlState ?? error.code;
    const key = `${where}\u0000${code}`;
    const now = Date.now();
    const st = this.#errorLog.get(key);
    if (st === undefined) {
      this.#errorLog.set(key, { since: now, suppressed: 0, last: error });
      this.errorSink(`awa: ${where}:`, error);
      return;
    }
    st.suppressed++;
    st.last = error;
    if (now - st.since >= this.errorLogWindowMs) this.#logSummary(where, st, now);
  }

  #logSummary(where: string, st: ErrorLogState, now: number): void {
    const secs = ((now - st.since) / 1000).toFixed(0);
    this.errorSink(
      `awa: ${where}: ${st.suppressed} more like this in the last ${secs} s; latest: ${st.last.message}`,
    );
    st.since = now;
    st.suppressed = 0;
  }

  /** Emit the event of a committed outcome (built by the outcome table, outcomes.ts). */
  emitOutcome(event: OutcomeEvent): void {
    // The union pairs each name with its payload; emit's generic cannot see that pairing.
    this.emit(event.name, event.payload as never);
  }
}
