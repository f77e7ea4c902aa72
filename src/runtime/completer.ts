/**
 * Group commit of attempt outcomes. Outcomes queue up while a flush is in flight and go out
 * together in the next one (at most `maxBatch` per statement), so a lone completion waits for
 * no timer and a busy worker pool pays one round trip per batch.
 * @module
 */
import type { Sql } from "postgres";
import { finalizeAttempts, type FinalizedRow, type FinalizeItem } from "./queries.ts";

interface Pending {
  item: FinalizeItem;
  resolve: (row: FinalizedRow | null) => void;
  reject: (err: unknown) => void;
}

/** Batches finalizations; each `submit` resolves with the applied row, or null when stale. */
export class Completer {
  #queue: Pending[] = [];
  #inFlight = 0;
  #pumpQueued = false;
  #sql: Sql;
  #schema: string;
  #maxBatch: number;
  #maxConcurrent: number;
  #dlqDefault: boolean;
  #idle: (() => void)[] = [];
  /** Finalizations rejected because their attempt was no longer current. */
  staleCount = 0;
  /** Statements sent. */
  flushCount = 0;

  constructor(
    sql: Sql,
    schema: string,
    opts: { maxBatch?: number; maxConcurrent?: number; dlqDefault?: boolean } = {},
  ) {
    this.#sql = sql;
    this.#schema = schema;
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#maxConcurrent = opts.maxConcurrent ?? 1;
    this.#dlqDefault = opts.dlqDefault ?? false;
  }

  /** Queue one outcome for the next flush. */
  submit(item: FinalizeItem): Promise<FinalizedRow | null> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
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

  /** Resolves when nothing is queued or in flight. */
  drained(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#maxConcurrent) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      this.#flush(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#queue.length === 0 && this.#inFlight === 0) {
          for (const r of this.#idle.splice(0)) r();
        }
      });
    }
  }

  async #flush(batch: Pending[]): Promise<void> {
    this.flushCount++;
    let rows: FinalizedRow[];
    try {
      rows = await this.#flushWithRetry(batch.map((p) => p.item));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    const applied = new Map<string, FinalizedRow>();
    for (const r of rows) applied.set(`${r.job_id}:${r.run_lease}`, r);
    for (const p of batch) {
      const row = applied.get(`${p.item.job_id}:${p.item.run_lease}`) ?? null;
      if (row === null) this.staleCount++;
      p.resolve(row);
    }
  }

  /** Retry transient failures a few times: an outcome that never lands is rescued later, but
   * a worker slot waits for it. */
  async #flushWithRetry(items: FinalizeItem[]): Promise<FinalizedRow[]> {
    let delay = 50;
    for (let attempt = 1;; attempt++) {
      try {
        return await finalizeAttempts(this.#sql, this.#schema, items, {
          dlqDefault: this.#dlqDefault,
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        const transient = code === "40P01" || code === "40001" || code === "57P01" ||
          code === "08006" || code === "ECONNRESET" || code === "CONNECTION_CLOSED";
        if (!transient || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }
}
