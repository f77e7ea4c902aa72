/**
 * Waiting for a job's outcome: {@link waitForJob}, and the loop {@link insertAndWait} shares.
 *
 * A wait LISTENs to the schema's `@result` topic first, then registers a `job_waiters` row (in
 * the insert's transaction for insertAndWait): the transition that ends the job NOTIFYs in its
 * own transaction, so a notice is never sent before the waiter listens. Every wait also reads
 * the job's state every `pollIntervalMs` and after each re-listen, so a lost notice (a dropped
 * LISTEN connection, a driver that cannot LISTEN) costs latency, never a hung caller.
 * @module
 */
import { type Db, type Executor, toExecutor } from "../db/executor.ts";
import { toDatabaseError } from "../db/classify.ts";
import { JobWaitTimeoutError, TransactionStateError, ValidationError } from "../errors.ts";
import type { JobDefinition } from "../job.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { checkSchema } from "../schema.ts";
import { addJobWaiter, removeJobWaiter } from "../storage/results.ts";
import { type Store, storeOf } from "../storage/store.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { listenForEnds } from "./listen.ts";
import { checkKindMatches, readEnd, readOutcome } from "./outcome.ts";
import { Wake } from "./wake.ts";

/** Options of {@link waitForJob} (and the waiting part of `insertAndWait`). */
export interface WaitOptions {
  /**
   * Give up after this long, in ms (1 to 86 400 000), with a `JobWaitTimeoutError`; the job
   * itself is unaffected. Default 60 000.
   */
  timeoutMs?: number;
  /** Abort the wait (the job is unaffected): the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Read the job's state this often besides notifications, in ms (10 to 60 000): the bound on
   * the extra latency when a notice is lost, or the only path for handles that cannot LISTEN.
   * Default 1 000.
   */
  pollIntervalMs?: number;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

/** Default of {@link WaitOptions.timeoutMs}. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;
/** Default of {@link WaitOptions.pollIntervalMs}. */
export const DEFAULT_WAIT_POLL_MS = 1_000;
/** A registration outlives its wait by this much, so only crashed waiters' rows expire. */
export const WAITER_TTL_MARGIN_MS = 60_000;

/** The wait options' keys, for callers that merge them with their own. */
export const WAIT_KEYS: readonly string[] = ["timeoutMs", "signal", "pollIntervalMs"];

/** Checked wait options, with the executor and store of the call. */
export interface PreparedWait {
  db: Db;
  ex: Executor;
  store: Store;
  schema: string;
  timeoutMs: number;
  pollMs: number;
  signal: AbortSignal | undefined;
  /** Start of the call, for the timeout (Date.now() ms). */
  startedAt: number;
}

/**
 * Refuse a handle inside the caller's transaction: the wait would hold it open while the job
 * it waits for (uncommitted, for insertAndWait) cannot even be seen by a worker.
 */
function checkNotInTransaction(db: Db, what: string): void {
  const d = db as unknown as Record<string, unknown>;
  const inTx = (typeof db === "function" && typeof d.savepoint === "function") ||
    (d.kind === "pg" && d.inTransaction === true) ||
    (d.kind === "adapted" && d.transaction === null);
  if (inTx) {
    throw new TransactionStateError(
      `${what} cannot wait inside your transaction: workers see the job only once it commits. ` +
        "Insert the job in the transaction, commit, then call waitForJob with a pool",
    );
  }
}

/** Check the wait options of `o` (unknown keys already refused) and the handle. */
export function prepareWait(db: Db, o: WaitOptions, field: string, what: string): PreparedWait {
  const startedAt = Date.now();
  const schema = checkSchema(o.schema, `${field}.schema`);
  const timeoutMs = o.timeoutMs === undefined
    ? DEFAULT_WAIT_TIMEOUT_MS
    : checkInteger(o.timeoutMs, `${field}.timeoutMs`, 1, 86_400_000);
  const pollMs = o.pollIntervalMs === undefined
    ? DEFAULT_WAIT_POLL_MS
    : checkInteger(o.pollIntervalMs, `${field}.pollIntervalMs`, 10, 60_000);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new ValidationError(
      `${field}.signal`,
      `must be an AbortSignal, got ${describe(o.signal)}`,
    );
  }
  const ex = toExecutor(db);
  checkNotInTransaction(db, what);
  return {
    db,
    ex,
    store: storeOf(ex, schema),
    schema,
    timeoutMs,
    pollMs,
    signal: o.signal,
    startedAt,
  };
}

/**
 * How a wait gets its job: `start` inserts it (registering `waiter` in the same transaction
 * when given) or names an existing one; `checkFirst` reads its state before the first sleep.
 */
export interface WaitStart {
  start(store: Store, waiter: string | null): Promise<number>;
  /** Register `waiter` after `start` (a job that exists already); false when start did. */
  registerAfterStart: boolean;
  checkFirst: boolean;
}

/** Ids heard before the waited id is known, at most this many (see {@link runWait}). */
const MAX_EARLY_IDS = 10_000;

/**
 * Wait for the outcome of the job `how` starts: resolve with its result, reject with a
 * `JobFailedError`, `JobWaitTimeoutError`, `JobNotFoundError`, the signal's reason, or a
 * `DatabaseError`. `kind` (from a job definition) must match the job's.
 */
export async function runWait(p: PreparedWait, how: WaitStart, kind: string | null) {
  p.signal?.throwIfAborted();
  const deadline = p.startedAt + p.timeoutMs;
  const wake = new Wake();
  let target: string | null = null;
  // A notice may arrive before the insert's reply has told us the id: keep what was heard.
  const early = new Set<string>();
  let notified = false;
  const onEnded = (jobId: string) => {
    if (target === null) {
      if (early.size < MAX_EARLY_IDS) early.add(jobId);
    } else if (jobId === target) {
      notified = true;
      wake.wake();
    }
  };
  const waiter = crypto.randomUUID();
  let id: number | null = null;
  let registered = false;
  let listen = null;
  try {
    await requireSchema(p.ex, p.schema);
    listen = await listenForEnds(p.db, p.ex, p.schema, onEnded, () => wake.wake());
    const ttlMs = p.timeoutMs + WAITER_TTL_MARGIN_MS;
    id = await how.start(p.store, listen !== null && !how.registerAfterStart ? waiter : null);
    registered = listen !== null;
    target = String(id);
    if (listen !== null && how.registerAfterStart) await addJobWaiter(p.store, id, waiter, ttlMs);
    if (early.has(target)) onEnded(target);
    // The job's kind once known: then a look reads only the planes of ended jobs, and the
    // every-plane read (an unknown id, the state for a timeout) is left to the first and last.
    let known = how.checkFirst ? null : kind;
    let read = how.checkFirst;
    for (;;) {
      if (!read) {
        await wake.sleep(Math.max(0, Math.min(p.pollMs, deadline - Date.now())), p.signal);
        p.signal?.throwIfAborted();
      }
      read = false;
      const last = Date.now() >= deadline;
      let outcome = known === null ? null : await readEnd(p.store, id, known);
      if (outcome === null && (known === null || last)) {
        outcome = await readOutcome(p.store, id);
        checkKindMatches(id, outcome, kind);
        known = outcome.kind;
      }
      if (outcome?.done) {
        // The transition that notified deleted the registrations it saw.
        if (notified) registered = false;
        if ("error" in outcome) throw outcome.error;
        return outcome.result;
      }
      if (last && outcome !== null) {
        throw new JobWaitTimeoutError(id, p.timeoutMs, outcome.state);
      }
    }
  } catch (err) {
    if (p.signal?.aborted && err === p.signal.reason) throw err;
    throw toDatabaseError(mapMissingSchema(err, p.ex, p.schema), "wait for a job");
  } finally {
    await listen?.close().catch(() => {});
    if (registered && id !== null) await removeJobWaiter(p.store, id, waiter).catch(() => {});
  }
}

const WAIT_FOR_JOB_KEYS: ReadonlySet<string> = new Set([...WAIT_KEYS, "schema"]);

function checkId(id: unknown): number {
  if (typeof id === "bigint") id = Number(id);
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id <= 0) {
    throw new ValidationError("id", `must be a positive job id, got ${describe(id)}`);
  }
  return id;
}

/**
 * Wait for job `id`, inserted earlier by any process, to end, and resolve with its result. With
 * a job definition the result is typed, and a job of another kind is refused. Rejects with
 * `JobFailedError` (`code` `JOB_FAILED` or `JOB_WAS_CANCELLED`, with the job's errors) when it
 * ended without a result, `JobWaitTimeoutError` after `timeoutMs` (the job keeps running),
 * `JobNotFoundError` for an unknown id (or one past its retention), or the signal's reason.
 * A job that already ended answers at once. Refuses a transaction handle
 * (`TransactionStateError`): wait after the commit.
 */
export function waitForJob<A, R>(
  db: Db,
  job: JobDefinition<A, R>,
  id: number | bigint,
  opts?: WaitOptions,
): Promise<R>;
/** Wait for job `id` without a definition: its result is `unknown`. */
export function waitForJob(db: Db, id: number | bigint, opts?: WaitOptions): Promise<unknown>;
export async function waitForJob(
  db: Db,
  jobOrId: JobDefinition<unknown, unknown> | number | bigint,
  idOrOpts?: number | bigint | WaitOptions,
  maybeOpts?: WaitOptions,
): Promise<unknown> {
  const typed = typeof jobOrId === "object" && jobOrId !== null;
  if (typed && typeof (jobOrId as JobDefinition<unknown>).kind !== "string") {
    throw new ValidationError("job", "expected a job definition from defineJob()");
  }
  const kind = typed ? (jobOrId as JobDefinition<unknown>).kind : null;
  const id = checkId(typed ? idOrOpts : jobOrId);
  const opts = typed ? maybeOpts : idOrOpts;
  const o = checkOptions<WaitOptions>(opts, "opts", WAIT_FOR_JOB_KEYS);
  const p = prepareWait(db, o, "opts", "waitForJob");
  return await runWait(p, {
    start: () => Promise.resolve(id),
    registerAfterStart: true,
    checkFirst: true,
  }, kind);
}
