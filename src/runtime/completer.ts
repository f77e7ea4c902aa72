/**
 * Group commit of attempt outcomes. Outcomes queue up while a flush is in flight and go out
 * together in the next one (at most `maxBatch` per statement), so a lone completion waits for
 * no timer and a busy worker pool pays one round trip per batch.
 *
 * A flush that fails for a transient reason (connection refused or dropped, server restarting,
 * statement or lock timeout, deadlock) hands its outcomes to a retry lane, so fresh outcomes
 * never queue behind it. The retry lane sends one statement at a time, backing off from 50 ms
 * to 2 s between failures, and keeps trying until the attempt's heartbeat horizon has passed:
 * until then the attempt stays tracked and heartbeated, and nobody else can run it. Only then,
 * or on a non-transient failure, does `submit` reject, with a {@link DatabaseError}.
 * @module
 */
import { isTransientDbError, toDatabaseError } from "../db/classify.ts";
import { finalizeAttempts, type FinalizedRow, type FinalizeItem } from "../storage/attempts.ts";
import type { Store } from "../storage/store.ts";
import { backoffDelay } from "./core.ts";

interface Pending {
  item: FinalizeItem;
  resolve: (row: FinalizedRow | null) => void;
  reject: (err: unknown) => void;
  /** Stop retrying after this time (Date.now() ms). */
  giveUpAt: number;
}

/** First and longest wait of the retry lane between failed flushes, in ms. */
const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 2000;
/** A fresh flush in flight longer than this lets another one start beside it, in ms. */
const STALL_MS = 1000;
/** Most fresh flushes in flight at once beyond `maxConcurrent`, counting stalled ones. */
const MAX_STALLED = 4;

/** Errors of one statement rather than of the connection: the batch may hold the culprit. */
function statementLevel(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "57014" || code === "55P03" || code === "40P01" || code === "40001";
}

/** Options of a {@link Completer}. */
export interface CompleterOptions {
  /** Most outcomes per statement. Default 512. */
  maxBatch?: number;
  /** Fresh flushes in flight at once (a stalled one does not count). Default 1. */
  maxConcurrent?: number;
  /** Send terminal failures of queues without a policy to the DLQ. Default false. */
  dlqDefault?: boolean;
  /**
   * How long an outcome keeps being retried after it was submitted, in ms: the attempt's
   * heartbeat staleness, after which maintenance may rescue it anyway. Default 90 000.
   */
  horizonMs?: number;
}

/** Batches finalizations; each `submit` resolves with the applied row, or null when stale. */
export class Completer {
  #queue: Pending[] = [];
  #retry: Pending[] = [];
  #inFlight = 0;
  #stalled = 0;
  #retrying = false;
  #retryFailures = 0;
  #retryBatch: number;
  #wakeRetry: (() => void) | null = null;
  #lastError: unknown = null;
  #pumpQueued = false;
  #store: Store;
  #maxBatch: number;
  #maxConcurrent: number;
  #dlqDefault: boolean;
  #horizonMs: number;
  #idle: (() => void)[] = [];
  /** Finalizations rejected because their attempt was no longer current. */
  staleCount = 0;
  /** Statements sent. */
  flushCount = 0;
  /** Statements that failed and whose outcomes went to the retry lane. */
  retriedFlushes = 0;
  /** Outcomes given up on after retrying past their horizon or a non-transient failure. */
  droppedCount = 0;

  constructor(store: Store, opts: CompleterOptions = {}) {
    this.#store = store;
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#maxConcurrent = opts.maxConcurrent ?? 1;
    this.#dlqDefault = opts.dlqDefault ?? false;
    this.#horizonMs = opts.horizonMs ?? 90_000;
    this.#retryBatch = this.#maxBatch;
  }

  /** Queue one outcome for the next flush. */
  submit(item: FinalizeItem): Promise<FinalizedRow | null> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject, giveUpAt: Date.now() + this.#horizonMs });
      // Pump after the current microtasks: handlers that finish in the same tick (a claimed
      // batch of fast jobs) then share one flush instead of the first going out alone.
      if (!this.#pumpQueued) {
        this.#pumpQueued = true;
        queueMicrotask(() => {
          this.#pumpQueued = false;
          this.#pump();
        });
      }
    });
  }

  /**
   * Resolves when nothing is queued, in flight or waiting for a retry. With `giveUpAt`
   * (Date.now() ms), outcomes still failing then are given up on instead of retried longer.
   */
  drained(giveUpAt?: number): Promise<void> {
    if (giveUpAt !== undefined) {
      for (const p of [...this.#queue, ...this.#retry]) p.giveUpAt = Math.min(p.giveUpAt, giveUpAt);
    }
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #isIdle(): boolean {
    return this.#queue.length === 0 && this.#inFlight === 0 && this.#retry.length === 0 &&
      !this.#retrying;
  }

  #settled(): void {
    if (this.#isIdle()) { for (const r of this.#idle.splice(0)) r(); }
  }

  #pump(): void {
    while (
      this.#queue.length > 0 && this.#inFlight - this.#stalled < this.#maxConcurrent &&
      this.#inFlight < this.#maxConcurrent + MAX_STALLED
    ) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      let stalled = false;
      const stallTimer = setTimeout(() => {
        stalled = true;
        this.#stalled++;
        this.#pump();
      }, STALL_MS);
      this.#freshFlush(batch).finally(() => {
        clearTimeout(stallTimer);
        if (stalled) this.#stalled--;
        this.#inFlight--;
        this.#pump();
        this.#settled();
      });
    }
  }

  /** One try; a transient failure hands the batch to the retry lane. */
  async #freshFlush(batch: Pending[]): Promise<void> {
    try {
      this.#apply(batch, await this.#send(batch));
      // The database answers again: a retry lane waiting out its backoff may go now.
      this.#wakeRetry?.();
    } catch (err) {
      if (!isTransientDbError(err)) return this.#giveUp(batch, err);
      this.#lastError = err;
      this.retriedFlushes++;
      this.#retry.push(...batch);
      this.#startRetryLane();
    }
  }

  #startRetryLane(): void {
    if (this.#retrying) return;
    this.#retrying = true;
    this.#retryLane().finally(() => {
      this.#retrying = false;
      // Outcomes may have arrived while the lane was finishing.
      if (this.#retry.length > 0) this.#startRetryLane();
      this.#settled();
    });
  }

  async #retryLane(): Promise<void> {
    while (this.#retry.length > 0) {
      await this.#pause(backoffDelay(this.#retryFailures + 1, RETRY_BASE_MS, RETRY_MAX_MS));
      const now = Date.now();
      const expired = this.#retry.filter((p) => p.giveUpAt <= now);
      if (expired.length > 0) {
        this.#retry = this.#retry.filter((p) => p.giveUpAt > now);
        this.#giveUp(expired, this.#lastError);
      }
      if (this.#retry.length === 0) break;
      const batch = this.#retry.splice(0, this.#retryBatch);
      try {
        this.#apply(batch, await this.#send(batch));
        this.#retryFailures = 0;
        this.#retryBatch = this.#maxBatch;
      } catch (err) {
        if (!isTransientDbError(err)) {
          this.#giveUp(batch, err);
          continue;
        }
        this.#lastError = err;
        this.#retryFailures++;
        // A timeout or conflict may come from one contended outcome: retry in smaller
        // statements so it stops holding the rest back.
        if (statementLevel(err)) this.#retryBatch = Math.max(1, Math.ceil(batch.length / 2));
        this.#retry.unshift(...batch);
      }
    }
  }

  /** Sleep `ms`, or less when a fresh flush shows the database is answering again. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeRetry = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeRetry = () => {
        this.#retryFailures = 0;
        done();
      };
    });
  }

  #send(batch: Pending[]): Promise<FinalizedRow[]> {
    this.flushCount++;
    return finalizeAttempts(this.#store, batch.map((p) => p.item), {
      dlqDefault: this.#dlqDefault,
    });
  }

  #apply(batch: Pending[], rows: FinalizedRow[]): void {
    const applied = new Map<string, FinalizedRow>();
    for (const r of rows) applied.set(`${r.job_id}:${r.run_lease}`, r);
    for (const p of batch) {
      const row = applied.get(`${p.item.job_id}:${p.item.run_lease}`) ?? null;
      if (row === null) this.staleCount++;
      p.resolve(row);
    }
  }

  #giveUp(batch: Pending[], err: unknown): void {
    const error = toDatabaseError(err, "save job outcomes");
    this.droppedCount += batch.length;
    for (const p of batch) p.reject(error);
  }
}
