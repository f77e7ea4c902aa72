/**
 * Per-queue dispatch: take worker permits, claim that many jobs in one round trip, run their
 * handlers, and hand outcomes to the completer. Wakes on NOTIFY, on freed capacity, and on a
 * polling timer (the fallback when notifications are lost).
 * @module
 */
import { isTransientDbError, toDatabaseError } from "../db/classify.ts";
import { DeadlineExceededError, TerminalError } from "../errors.ts";
import { type FinalizedRow, type FinalizeItem, writeProgress } from "../storage/attempts.ts";
import { claimBatch, type ClaimedRow } from "../storage/claims.ts";
import { encodeReceipt } from "../storage/receipts.ts";
import type { Store } from "../storage/store.ts";
import { createContext, ProgressState } from "./context.ts";
import { callbackMethods, parkOrFail } from "./callbacks.ts";
import {
  type Decided,
  eventOf,
  finalizeItemOf as itemOf,
  fromReturned,
  fromThrown,
} from "./outcomes.ts";
import type { ResolvedQueueConfig } from "./options.ts";
import type { Job, JobError, Progress } from "./types.ts";
import type { RuntimeCore } from "./core.ts";
import { StartRecorder } from "./starts.ts";
import type { QueuePermits } from "./weighted_pool.ts";

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
  /** Set when the handler has returned and its outcome went to the completer. */
  settled: boolean;
  /**
   * Set when a cancel or rescue notice closed the attempt in the database; after a cancel the
   * `cancelled` event is already out and the handler's late outcome emits nothing.
   */
  endedBy: "cancel" | "rescue" | null;
  /** Set once the `cancelled` event of an operator cancel went out. */
  cancelReported: boolean;
  /** Claimed ahead of a free worker: its start is recorded before its handler runs. */
  prefetched: boolean;
}

/**
 * `reason` of the `cancelled` event when an operator cancelled a claimed attempt (the cancel
 * notice does not carry the operator's text; the job's errors do).
 */
export const CANCELLED_WHILE_RUNNING = "cancelled while running";

/** The finalize item of an attempt's outcome (see the outcome table, outcomes.ts). */
export function finalizeItemOf(a: Attempt, d: Decided): FinalizeItem {
  const { claimSlot, batchId, idx, job } = a;
  return itemOf({ claimSlot, batchId, idx, job, progress: a.progress.value }, d);
}

/** Hand an attempt back without counting it (the table's `release`: it keeps its progress). */
export function releaseItemOf(a: Attempt): FinalizeItem {
  return finalizeItemOf(a, { name: "release", payload: {} });
}

/** Receipt id of an attempt (see `storage/receipts.ts`). */
export function receiptOf(a: Attempt): string {
  return encodeReceipt(a.batchId, a.idx);
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

/** Longest wait between claim retries while claims keep failing for a lasting reason, in ms. */
const CLAIM_RETRY_MAX_MS = 30_000;
/**
 * Longest wait while the database is unreachable or restarting, in ms. The pool already backs
 * off its reconnects; a longer wait here only delays work after the server is back (a 16 s
 * pause after a 20 s outage once cost 10 s of idle workers).
 */
const CLAIM_RETRY_TRANSIENT_MAX_MS = 2000;

/**
 * Wait before claim retry number `failures` (1, 2, …) after failed claims: the poll interval
 * (at least 250 ms), doubling per failure up to 2 s while the failures are transient (see
 * {@link isTransientDbError}) and up to 30 s otherwise, less up to 25 % jitter so that a fleet
 * that lost its database does not retry in step.
 */
export function claimRetryDelayMs(
  failures: number,
  pollIntervalMs: number,
  transient = false,
): number {
  const base = Math.max(250, pollIntervalMs);
  const max = transient ? Math.max(base, CLAIM_RETRY_TRANSIENT_MAX_MS) : CLAIM_RETRY_MAX_MS;
  const delay = Math.min(max, base * 2 ** Math.min(failures - 1, 20));
  return Math.round(delay * (1 - Math.random() * 0.25));
}

/** Dispatch loop of one queue in one process. */
export class QueueDispatcher {
  readonly queue: string;
  /** The effective config: code config with live overrides applied (see {@link retune}). */
  config: ResolvedQueueConfig;
  /** Weighted-pool permits (`globalMaxWorkers`), or null for the per-queue limit alone. */
  #permits: QueuePermits | null;
  /** Permits taken from the pool: claimed attempts not yet finished, or a claim in flight. */
  #permitsHeld = 0;
  /** Jobs the claim in flight asked for; their permits are kept until it returns. */
  #claimInFlight = 0;
  #core: RuntimeCore;
  /** Handlers running now. */
  #active = 0;
  /**
   * Outcomes and hand-backs submitted to the completer and not yet committed: their attempts
   * are still open in the database, so they count against the claim bound.
   */
  #closing = 0;
  /** Claims failed in a row; drives the retry backoff. */
  #claimFailures = 0;
  /** Claimed attempts waiting for a free worker (prefetch), oldest first. */
  #held: { attempt: Attempt; heldAtMs: number }[] = [];
  #wakeFlag = false;
  /** Whether jobs may be waiting: the last claim found some, or a notification came. */
  #backlog = true;
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
  /** Held attempts handed back unstarted because they waited too long. */
  returned = 0;
  /** Attempts whose handler is running, for the deadline sweep. */
  #executing = new Set<Attempt>();
  #deadlineSweep: ReturnType<typeof setInterval> | null = null;
  #starts: StartRecorder;
  /** Where claims run: a session of this queue's own (warm plans), or the client's pool. */
  #claimStore: Store;

  constructor(
    core: RuntimeCore,
    queue: string,
    config: ResolvedQueueConfig,
    permits: QueuePermits | null = null,
    claimStore: Store = core.store,
  ) {
    this.#core = core;
    this.#claimStore = claimStore;
    this.#permits = permits;
    permits?.onFreed(() => this.#capacityFreed());
    this.#starts = new StartRecorder(core.store, core.instanceId);
    this.queue = queue;
    this.config = config;
    this.#tokens = config.rateLimit?.burst ?? Infinity;
  }

  /** Apply a live override; the token bucket keeps at most the new burst. */
  retune(config: ResolvedQueueConfig): void {
    this.#takeTokens(0);
    this.config = config;
    if (config.rateLimit) this.#tokens = Math.min(this.#tokens, config.rateLimit.burst);
  }

  /** Give back the pool permits no running or held attempt uses any more. */
  #syncPermits(): void {
    const spare = this.#permitsHeld - this.#active - this.#held.length - this.#claimInFlight;
    if (this.#permits === null || spare <= 0) return;
    this.#permitsHeld -= spare;
    this.#permits.release(spare);
  }

  /** Handlers of this queue running now. */
  get running(): number {
    return this.#active;
  }

  /** Claimed attempts held for a free worker. */
  get held(): number {
    return this.#held.length;
  }

  start(): void {
    this.#loop = this.#run();
    if (this.config.deadlineMs > 0) {
      // One sweep instead of a timer per job: per-job timers cost more than short jobs do.
      const every = Math.min(1000, Math.max(25, Math.floor(this.config.deadlineMs / 10)));
      this.#deadlineSweep = setInterval(() => this.#abortOverdue(), every);
    }
  }

  /** Stop the deadline sweep; call once no handler of this queue runs. */
  close(): void {
    if (this.#deadlineSweep !== null) clearInterval(this.#deadlineSweep);
    this.#deadlineSweep = null;
  }

  #abortOverdue(): void {
    const now = Date.now();
    for (const a of this.#executing) {
      const at = a.job.deadlineAt;
      if (at && at.getTime() <= now && !a.controller.signal.aborted) {
        a.controller.abort(new DeadlineExceededError(this.config.deadlineMs));
      }
    }
  }

  /** Stop claiming and hand held attempts back; in-flight handlers keep running. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#loop;
    const held = this.#held.splice(0);
    this.#syncPermits();
    this.#permits?.clearDemand();
    await Promise.all(held.map((h) => this.#handBack(h.attempt)));
  }

  /** Ask the loop to claim now: new jobs were announced (or notifications may have been lost). */
  wake(): void {
    this.#backlog = true;
    this.#signal();
  }

  /**
   * Freed capacity claims again only while the last claim suggested more work is waiting; an
   * emptied queue is refilled by notifications and the poll, not by a claim per finished job.
   */
  #capacityFreed(): void {
    if (this.#backlog && this.#claimNeed() > 0) this.#signal();
  }

  #signal(): void {
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

  /** Attempts of this queue that this process holds open in the database. */
  get open(): number {
    return this.#active + this.#held.length + this.#closing;
  }

  /**
   * How many jobs the next claim should take. Running and held attempts count against
   * `maxWorkers + prefetch`; finished handlers whose outcome has not committed yet are still
   * open in the database and count too, beyond the first `maxWorkers` of them. Claims go out
   * one at a time, so this process never holds more than `2 × maxWorkers + prefetch` open
   * attempts of this queue. (Counting every pending outcome would make each claim wait for
   * the previous flush, which about halved drain throughput without prefetch.) While the
   * held buffer still covers idle workers and is over half full, none: refilling in larger,
   * rarer claims is what makes prefetch cheap.
   */
  #claimNeed(): number {
    if (this.#stopping) return 0;
    const held = this.#held.length;
    const pendingOver = Math.max(0, this.#closing - this.config.maxWorkers);
    const need = this.config.maxWorkers + this.config.prefetch - this.#active - held -
      pendingOver;
    if (need <= 0) return 0;
    const idle = this.config.maxWorkers - this.#active;
    if (held >= idle && held > this.config.prefetch / 2) return 0;
    return need;
  }

  /** Sleep `ms` whatever wakes arrive (a failing database is not helped by early retries). */
  async #pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.#stopping && Date.now() < until) await this.#sleep(until - Date.now());
  }

  async #run(): Promise<void> {
    const core = this.#core;
    while (!this.#stopping) {
      const need = this.#claimNeed();
      if (need <= 0) {
        await this.#sleep(this.config.pollIntervalMs);
        continue;
      }
      const batch = Math.min(need, this.config.claimBatchSize);
      // Permit before claim: a queue the pool refuses sleeps until permits come back.
      const granted = this.#permits ? this.#permits.acquire(batch) : batch;
      if (granted <= 0) {
        await this.#sleep(this.config.pollIntervalMs);
        continue;
      }
      this.#permitsHeld += this.#permits ? granted : 0;
      const want = this.#takeTokens(granted);
      this.#claimInFlight = want;
      this.#syncPermits();
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
          this.#claimStore,
          this.queue,
          want,
          this.config.deadlineMs / 1000,
          this.config.priorityAgingMs / 1000,
          core.instanceId,
          // Rows beyond the workers free after the held ones are claimed as held.
          Math.max(0, this.config.maxWorkers - this.#active - this.#held.length),
        );
        const ms = performance.now() - t0;
        this.claimMsTotal += ms;
        if (ms > this.claimMsMax) this.claimMsMax = ms;
      } catch (err) {
        this.#claimInFlight = 0;
        this.#syncPermits();
        if (this.#stopping) break;
        this.#claimFailures++;
        core.emitError(toDatabaseError(err, `claim ${this.queue}`), `claim ${this.queue}`);
        await this.#pause(
          claimRetryDelayMs(
            this.#claimFailures,
            this.config.pollIntervalMs,
            isTransientDbError(err),
          ),
        );
        continue;
      }
      this.#claimFailures = 0;
      // Only an empty claim says the queue is drained: a short one may have skipped lanes
      // that other processes were claiming from, and those still hold jobs.
      this.#backlog = rows.length > 0;
      if (rows.length === 0) this.#permits?.clearDemand();
      if (this.config.rateLimit) this.#tokens -= rows.length;
      this.claimed += rows.length;
      const now = performance.now();
      for (const row of rows) this.#held.push({ attempt: this.#track(row), heldAtMs: now });
      this.#claimInFlight = 0;
      this.#startHeld();
      if (rows.length < want) await this.#sleep(this.config.pollIntervalMs);
    }
  }

  #track(row: ClaimedRow): Attempt {
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
      settled: false,
      endedBy: null,
      cancelReported: false,
      prefetched: row.held,
    };
    this.#core.track(attempt);
    return attempt;
  }

  /** Start held attempts on idle workers; once stopping, held attempts only go back. */
  #startHeld(): void {
    this.#startIdle();
    this.#syncPermits();
  }

  #startIdle(): void {
    if (this.#stopping) return;
    const maxAgeMs = this.config.deadlineMs > 0 ? this.config.deadlineMs / 2 : Infinity;
    const now = performance.now();
    while (this.#active < this.config.maxWorkers && this.#held.length > 0) {
      const { attempt, heldAtMs } = this.#held.shift()!;
      if (attempt.controller.signal.aborted) {
        // Cancelled or rescued while held: its receipt is already closed.
        this.#core.untrack(attempt);
        continue;
      }
      if (now - heldAtMs > maxAgeMs) {
        this.returned++;
        void this.#handBack(attempt);
        continue;
      }
      this.#active++;
      if (attempt.prefetched) void this.#startRecorded(attempt);
      else this.#execute(attempt).catch((err) => this.#core.emitError(err, "execute"));
    }
  }

  /** Run a held attempt once its start is committed; if it cannot be, hand it back unrun. */
  async #startRecorded(a: Attempt): Promise<void> {
    let recorded = true;
    try {
      await this.#starts.record(a.claimSlot, receiptOf(a));
    } catch (err) {
      recorded = false;
      this.#core.emitError(err, `record start of job ${a.job.id}`);
    }
    if (recorded && !this.#stopping && !a.controller.signal.aborted) {
      this.#execute(a).catch((err) => this.#core.emitError(err, "execute"));
      return;
    }
    this.#active--;
    if (a.controller.signal.aborted) this.#core.untrack(a);
    else void this.#handBack(a);
    this.#startHeld();
    this.#capacityFreed();
  }

  /** Return an unstarted attempt to the queue without counting it (a zero-delay snooze). */
  async #handBack(a: Attempt): Promise<void> {
    a.released = true;
    this.#closing++;
    try {
      await this.#core.completer.submit(releaseItemOf(a));
    } catch (err) {
      // Not handed back: rescue frees it once this process stops heartbeating it.
      this.#core.emitError(err, `hand back job ${a.job.id}`);
    } finally {
      this.#core.untrack(a);
      this.#closing--;
      this.#capacityFreed();
    }
  }

  async #execute(a: Attempt): Promise<void> {
    const core = this.#core;
    const started = performance.now();
    this.#executing.add(a);
    let decided: Decided;
    try {
      const worker = core.workers.get(a.job.kind);
      if (!worker) throw new TerminalError(`unknown job kind: ${a.job.kind}`);
      try {
        const verdict: unknown = worker.def.defaults.validate?.(a.job.args);
        if (typeof (verdict as Promise<unknown>)?.then === "function") {
          // Observed so it cannot become an unhandled rejection; defineJob refuses async
          // validators, and one that returns a promise anyway has not validated anything.
          (verdict as Promise<unknown>).then(undefined, () => {});
          throw new Error("validate returned a promise; validators must be synchronous");
        }
      } catch (err) {
        throw new TerminalError(`invalid args: ${(err as Error)?.message ?? err}`);
      }
      const ctx = createContext(
        a.controller.signal,
        a.progress,
        () => this.#flushProgress(a),
        callbackMethods(core.store, a, (name, payload) => core.emit(name, payload)),
      );
      decided = fromReturned(await worker.handler(a.job, ctx));
    } catch (err) {
      decided = fromThrown(err);
    } finally {
      this.#executing.delete(a);
    }
    const item = finalizeItemOf(a, decided);

    // The worker is free as soon as the handler returns and starts a held job at once; the
    // outcome commits in the completer's next group flush. Until it does, the attempt is still
    // open in the database and keeps its place in the claim bound.
    this.#active--;
    this.#syncPermits();
    if (a.released) return;
    a.settled = true;
    this.#closing++;
    this.#startHeld();
    this.#capacityFreed();
    let row: FinalizedRow | null = null;
    try {
      row = decided.name === "park"
        ? await parkOrFail(
          core.store,
          a,
          decided.payload.callbackId,
          (fail) => core.completer.submit(fail),
          item,
          (name, payload) => core.emit(name, payload),
        )
        : await core.completer.submit(item);
    } catch (err) {
      // The outcome did not land within the heartbeat horizon; rescue runs the attempt again
      // once its heartbeat goes stale. That is an error, not a stale attempt.
      core.emitError(err, `finalize job ${a.job.id}`);
      return;
    } finally {
      core.untrack(a);
      this.#closing--;
      this.#capacityFreed();
    }
    if (row === null) {
      if (a.endedBy !== "cancel") {
        core.emit("stale", { job: a.job, outcome: item.outcome });
      } else if (!a.cancelReported) {
        a.cancelReported = true;
        core.emit("cancelled", { job: a.job, reason: CANCELLED_WHILE_RUNNING });
      }
      return;
    }
    const event = eventOf(decided, { job: a.job, row, durationMs: performance.now() - started });
    if (event !== null) core.emitOutcome(event);
  }

  async #flushProgress(a: Attempt): Promise<boolean> {
    if (!a.progress.dirty) return true;
    a.progress.dirty = false;
    const n = await writeProgress(this.#core.store, [{
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
