/**
 * Per-queue dispatch: take worker permits, claim that many jobs in one round trip, run their
 * handlers, and hand outcomes to the completer. Wakes on NOTIFY, on freed capacity, and on a
 * polling timer (the fallback when notifications are lost).
 * @module
 */
import { TerminalError } from "../errors.ts";
import type { FinalizedRow, FinalizeItem } from "./queries.ts";
import { claimBatch, type ClaimedRow, writeProgress } from "./queries.ts";
import { createContext, isOutcome, ProgressState } from "./context.ts";
import type { Job, JobError, Progress, QueueConfig } from "./types.ts";
import type { RuntimeCore } from "./core.ts";

/** An attempt this process is running. */
export interface Attempt {
  job: Job<unknown>;
  claimSlot: number;
  batchId: string;
  idx: number;
  claimedAtMs: number;
  controller: AbortController;
  progress: ProgressState;
  /** Set when shutdown already released the attempt; the handler's late outcome is dropped. */
  released: boolean;
}

/** Receipt id of an attempt: batch_id · 65536 + index. */
export function receiptOf(a: Attempt): string {
  return (BigInt(a.batchId) * 65536n + BigInt(a.idx)).toString();
}

function toJob(row: ClaimedRow, queue: string): Job<unknown> {
  return {
    id: Number(row.job_id),
    kind: row.kind,
    args: row.args,
    queue,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    tags: row.tags ?? [],
    metadata: row.metadata ?? {},
    insertedAt: row.created_at,
    runAt: row.run_at,
    runLease: Number(row.run_lease),
    progress: (row.progress as Progress | null) ?? null,
    errors: (row.errors as JobError[] | null) ?? [],
    deadlineAt: row.deadline_at,
  };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Resolved queue configuration with defaults applied. */
export type ResolvedQueueConfig = Required<Omit<QueueConfig, "rateLimit">> & {
  rateLimit: { perSecond: number; burst: number } | null;
};

/** Dispatch loop of one queue in one process. */
export class QueueDispatcher {
  readonly queue: string;
  readonly config: ResolvedQueueConfig;
  #core: RuntimeCore;
  #running = 0;
  #wakeFlag = false;
  #wakeResolve: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #stopping = false;
  #tokens: number;
  #tokensAt = performance.now();
  /** Claims sent / jobs claimed, for stats. */
  claims = 0;
  claimed = 0;
  /** Time spent in claim round trips (ms), total and worst. */
  claimMsTotal = 0;
  claimMsMax = 0;

  constructor(core: RuntimeCore, queue: string, config: ResolvedQueueConfig) {
    this.#core = core;
    this.queue = queue;
    this.config = config;
    this.#tokens = config.rateLimit?.burst ?? Infinity;
  }

  /** Jobs of this queue running now. */
  get running(): number {
    return this.#running;
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Stop claiming; in-flight handlers keep running. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#loop;
  }

  /** Ask the loop to claim now (notification, freed capacity). */
  wake(): void {
    this.#wakeFlag = true;
    const r = this.#wakeResolve;
    this.#wakeResolve = null;
    r?.();
  }

  #sleep(ms: number): Promise<void> {
    if (this.#wakeFlag) {
      this.#wakeFlag = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wakeResolve = null;
        resolve();
      }, ms);
      this.#wakeResolve = () => {
        clearTimeout(t);
        this.#wakeFlag = false;
        resolve();
      };
    });
  }

  #takeTokens(want: number): number {
    const rl = this.config.rateLimit;
    if (!rl) return want;
    const now = performance.now();
    this.#tokens = Math.min(
      rl.burst,
      this.#tokens + ((now - this.#tokensAt) / 1000) * rl.perSecond,
    );
    this.#tokensAt = now;
    return Math.min(want, Math.floor(this.#tokens));
  }

  async #run(): Promise<void> {
    const core = this.#core;
    while (!this.#stopping) {
      const free = this.config.maxWorkers - this.#running;
      if (free <= 0) {
        await this.#sleep(this.config.pollIntervalMs);
        continue;
      }
      const want = this.#takeTokens(Math.min(free, this.config.claimBatchSize));
      if (want <= 0) {
        const rl = this.config.rateLimit!;
        await this.#sleep(Math.max(5, 1000 / rl.perSecond));
        continue;
      }
      let rows: ClaimedRow[];
      try {
        this.claims++;
        const t0 = performance.now();
        rows = await claimBatch(
          core.sql,
          core.schema,
          this.queue,
          want,
          this.config.deadlineMs / 1000,
          this.config.priorityAgingMs / 1000,
          core.instanceId,
        );
        const ms = performance.now() - t0;
        this.claimMsTotal += ms;
        if (ms > this.claimMsMax) this.claimMsMax = ms;
      } catch (err) {
        if (this.#stopping) break;
        core.emitError(err, `claim ${this.queue}`);
        await this.#sleep(Math.max(this.config.pollIntervalMs, 500));
        continue;
      }
      if (this.config.rateLimit) this.#tokens -= rows.length;
      this.claimed += rows.length;
      for (const row of rows) this.#launch(row);
      if (rows.length < want) await this.#sleep(this.config.pollIntervalMs);
    }
  }

  #launch(row: ClaimedRow): void {
    const job = toJob(row, this.queue);
    const attempt: Attempt = {
      job,
      claimSlot: row.claim_slot,
      batchId: row.batch_id,
      idx: row.idx,
      claimedAtMs: row.claimed_at.getTime(),
      controller: new AbortController(),
      progress: new ProgressState(job.progress),
      released: false,
    };
    this.#running++;
    this.#core.track(attempt);
    this.#execute(attempt).catch((err) => this.#core.emitError(err, "execute"));
  }

  async #execute(a: Attempt): Promise<void> {
    const core = this.#core;
    const started = performance.now();
    let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
    if (a.job.deadlineAt) {
      const ms = a.job.deadlineAt.getTime() - Date.now();
      deadlineTimer = setTimeout(
        () => a.controller.abort(new Error("deadline exceeded")),
        Math.max(0, ms),
      );
    }
    const item: FinalizeItem = {
      claim_slot: a.claimSlot,
      batch_id: a.batchId,
      idx: a.idx,
      job_id: a.job.id,
      run_lease: a.job.runLease,
      outcome: "completed",
    };
    let result: unknown = undefined;
    let errorMessage = "";
    try {
      const worker = core.workers.get(a.job.kind);
      if (!worker) throw new TerminalError(`unknown job kind: ${a.job.kind}`);
      try {
        worker.def.defaults.validate?.(a.job.args);
      } catch (err) {
        throw new TerminalError(`invalid args: ${(err as Error)?.message ?? err}`);
      }
      const ctx = createContext(a.controller.signal, a.progress, () => this.#flushProgress(a));
      const out = await worker.handler(a.job, ctx);
      if (isOutcome(out)) {
        if (out.type === "retry") {
          item.outcome = "retry";
          item.delay_s = out.delayMs! / 1000;
          errorMessage = "retry requested by handler";
          item.error = errorMessage;
        } else if (out.type === "snooze") {
          item.outcome = "snooze";
          item.delay_s = out.delayMs! / 1000;
        } else {
          item.outcome = "cancel";
          errorMessage = out.reason ?? "";
          item.error = errorMessage;
        }
      } else {
        result = out;
        item.result = out === undefined ? null : JSON.parse(JSON.stringify(out) ?? "null");
      }
    } catch (err) {
      errorMessage = errorText(err);
      item.outcome = err instanceof TerminalError ? "fail" : "retry";
      item.error = errorMessage.slice(0, 10_000);
      item.delay_s = null;
    } finally {
      clearTimeout(deadlineTimer);
    }
    if (item.outcome !== "completed") item.progress = a.progress.value;

    if (a.released) return;
    let row: FinalizedRow | null = null;
    try {
      row = await core.completer.submit(item);
    } catch (err) {
      // The outcome did not land; rescue will retry the attempt once its heartbeat goes stale.
      core.emitError(err, `finalize job ${a.job.id}`);
    } finally {
      core.untrack(a);
      this.#running--;
      this.wake();
    }
    if (row === null) {
      core.emit("stale", { job: a.job, outcome: item.outcome });
      return;
    }
    core.emitOutcome(a.job, row, {
      result,
      error: errorMessage,
      durationMs: performance.now() - started,
    });
  }

  async #flushProgress(a: Attempt): Promise<boolean> {
    if (!a.progress.dirty) return true;
    a.progress.dirty = false;
    const n = await writeProgress(this.#core.sql, this.#core.schema, [{
      claim_slot: a.claimSlot,
      batch_id: a.batchId,
      idx: a.idx,
      job_id: a.job.id,
      run_lease: a.job.runLease,
      progress: a.progress.value,
    }]);
    return n > 0;
  }
}
