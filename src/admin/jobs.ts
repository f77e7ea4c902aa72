/**
 * Jobs for operators: find and inspect any job (`getJob`, `listJobs`), cancel and retry one or
 * many (`cancelJob`, `cancelJobs`, `retryJob`, `retryJobs`), drain a queue (`drain`), and the
 * retention of finished jobs (`setRetention`, `getRetention`). Every function takes a `Db`, so
 * it runs inside the caller's transaction when given one.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { JobNotFoundError, JobStateError, ValidationError } from "../errors.ts";
import { checkQueue } from "../job.ts";
import { mapInsertError } from "../producer/insert.ts";
import {
  cancelJob as cancelJobRow,
  type JobRow,
  type JobRowFilter,
  jobRows,
  type Plane,
  retryCancelled,
  retryHeld,
  type RetryTarget,
} from "../storage/admin_jobs.ts";
import {
  readRetention,
  readRetentionDefaults,
  writeQueueRetention,
  writeRetentionDefaults,
} from "../storage/history.ts";
import { resolveCallback } from "../storage/callbacks.ts";
import type { Store } from "../storage/store.ts";
import { checkOptions, describe } from "../validate.ts";
import {
  checkAdminOptions,
  checkBatchSize,
  checkBulkGuard,
  checkFilter,
  checkJobId,
  checkLimit,
  checkOverrides,
  checkReason,
  decodeCursor,
  encodeCursor,
  JOB_FILTER_KEYS,
  type JobFilter,
  type RetryOverrides,
  type SchemaOption,
} from "./filters.ts";
import { adminCall } from "./call.ts";
import { type BulkResult, type JobRecord, type Page, toJobRecord } from "./types.ts";

/**
 * Run `fn` on a store of `db` bound to `schema` after the schema check, mapping driver errors
 * to Awa's (`what` names the operation in messages).
 */
export function withStore<T>(
  db: Db,
  schema: string,
  what: string,
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  return adminCall(db, schema, what, fn, mapInsertError);
}

/** Precedence when a job shows in two planes of one snapshot: the live one wins. */
const PLANE_ORDER: readonly Plane[] = [
  "running",
  "ready",
  "deferred",
  "key_waiting",
  "flow_waiting",
  "held",
  "finished",
  "history",
];

/** The one row of job `id`, or null. */
export async function findJob(
  store: Store,
  id: bigint,
  planes?: readonly Plane[],
): Promise<JobRow | null> {
  const rows = await jobRows(store, { id, planes }, 10);
  rows.sort((a, b) => PLANE_ORDER.indexOf(a.plane) - PLANE_ORDER.indexOf(b.plane));
  return rows[0] ?? null;
}

/**
 * One job by id, from whichever plane holds it: queued, running, scheduled or retryable,
 * failed or in the DLQ, or finished within retention. Throws {@link JobNotFoundError} for an
 * unknown id (or one whose retention has passed).
 */
export async function getJob(db: Db, id: number | bigint, opts?: SchemaOption): Promise<JobRecord> {
  const jobId = checkJobId(id);
  const { schema } = checkAdminOptions(opts, "opts", []);
  const row = await withStore(db, schema, "getJob", (s) => findJob(s, jobId));
  if (row === null) throw new JobNotFoundError(Number(jobId));
  return toJobRecord(row);
}

/** Options of {@link listJobs}. */
export interface ListJobsOptions extends JobFilter, SchemaOption {
  /** Page size, 1 to 1000. Default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** Check a listing's options into a storage filter, its page size and its keyset start. */
export function checkListing(
  opts: unknown,
  field: string,
  extraKeys: readonly string[] = [],
): { filter: JobRowFilter; limit: number; schema: string; o: Record<string, unknown> } {
  const { o, schema } = checkAdminOptions<ListJobsOptions>(opts, field, [
    ...JOB_FILTER_KEYS,
    "limit",
    "cursor",
    ...extraKeys,
  ]);
  const filter = checkFilter(o, field);
  if (o.cursor !== undefined) filter.before = decodeCursor(o.cursor, `${field}.cursor`);
  return { filter, limit: checkLimit(o.limit, `${field}.limit`), schema, o };
}

/** Read one page of `filter` (one row more than `limit`, to know whether more follow). */
export async function readPage(
  store: Store,
  filter: JobRowFilter,
  limit: number,
): Promise<Page<JobRecord>> {
  const rows = await jobRows(store, filter, limit + 1);
  const more = rows.length > limit;
  const items = rows.slice(0, limit).map(toJobRecord);
  return { items, nextCursor: more ? encodeCursor(rows[limit - 1].id) : null };
}

/**
 * A page of jobs matching the filters, newest first by id, across every plane (history
 * included). Keyset-paginated: pass `nextCursor` back as `cursor`. Each plane is read through
 * its index by id, so a page costs the same on a deep backlog; a filter that matches few of the
 * newest jobs reads further.
 */
export async function listJobs(db: Db, opts?: ListJobsOptions): Promise<Page<JobRecord>> {
  const { filter, limit, schema } = checkListing(opts, "opts");
  return await withStore(db, schema, "listJobs", (s) => readPage(s, filter, limit));
}

/** Options of {@link cancelJob}. */
export interface CancelOptions extends SchemaOption {
  /** Reason recorded in the job's errors (at most 1000 characters). Default "cancelled by operator". */
  reason?: string;
}

const DEFAULT_REASON = "cancelled by operator";

/**
 * Cancel one job: queued, scheduled, retryable, waiting or running. A running job's attempt is
 * closed at once; the worker holding it aborts the handler's `ctx.signal` and emits
 * `cancelled`, and its late outcome is refused. Returns true when this call cancelled it, false
 * when it had already finished or is held. Unknown id: {@link JobNotFoundError}. In a caller's
 * transaction the cancel commits (and the worker hears of it) with that transaction.
 */
export async function cancelJob(
  db: Db,
  id: number | bigint,
  opts?: CancelOptions,
): Promise<boolean> {
  const jobId = checkJobId(id);
  const { o, schema } = checkAdminOptions<CancelOptions>(opts, "opts", ["reason"]);
  const reason = checkReason(o.reason, "opts.reason", DEFAULT_REASON);
  return await withStore(db, schema, "cancelJob", async (s) => {
    if (await cancelJobRow(s, jobId, reason) === "cancelled") return true;
    if (await findJob(s, jobId) === null) throw new JobNotFoundError(Number(jobId));
    return false;
  });
}

/** Options of bulk operations. */
export interface BulkOptions extends JobFilter, SchemaOption {
  /** Required when no filter is given: act on every matching job. */
  all?: true;
  /** Jobs read per batch, 1 to 10 000. Default 500. */
  batchSize?: number;
}

/**
 * Page through every job of `filter` (newest first, in batches of `batchSize`) and `apply` each
 * batch; `apply` returns how many it changed.
 */
export async function inBatches(
  store: Store,
  filter: JobRowFilter,
  batchSize: number,
  apply: (rows: JobRow[]) => Promise<number>,
): Promise<BulkResult> {
  const out: BulkResult = { count: 0, examined: 0, batches: 0 };
  let before: bigint | undefined;
  for (;;) {
    const rows = await jobRows(store, { ...filter, before }, batchSize);
    if (rows.length === 0) break;
    out.examined += rows.length;
    out.batches++;
    out.count += await apply(rows);
    if (rows.length < batchSize) break;
    before = BigInt(rows[rows.length - 1].id);
  }
  return out;
}

/** Check a bulk call's options: the guard, the filter and the batch size. */
export function checkBulk(
  opts: unknown,
  field: string,
  extraKeys: readonly string[] = [],
): { filter: JobRowFilter; batchSize: number; schema: string; o: Record<string, unknown> } {
  const { o, schema } = checkAdminOptions<BulkOptions>(opts, field, [
    ...JOB_FILTER_KEYS,
    "all",
    "batchSize",
    ...extraKeys,
  ]);
  checkBulkGuard(o, field);
  const filter = checkFilter(o, field);
  return { filter, batchSize: checkBatchSize(o.batchSize, `${field}.batchSize`), schema, o };
}

const CANCELLABLE = [
  "available",
  "running",
  "waiting_external",
  "scheduled",
  "retryable",
  "waiting",
];
// Waiting flow nodes are not here: they end with their flow (cancelFlow), not one by one.
const LIVE_PLANES: readonly Plane[] = ["ready", "running", "deferred", "key_waiting"];

/** Cancel each row's job, one statement per job (so no statement holds two jobs' locks). */
function cancelEach(store: Store, reason: string) {
  return async (rows: JobRow[]) => {
    let n = 0;
    for (const r of rows) {
      if (await cancelJobRow(store, BigInt(r.id), reason) === "cancelled") n++;
    }
    return n;
  };
}

/** Options of {@link cancelJobs}. */
export interface CancelManyOptions extends BulkOptions {
  /** Reason recorded in each job's errors. Default "cancelled by operator". */
  reason?: string;
}

/**
 * Cancel every live job matching the filters (state, if given, must be one a job can be
 * cancelled in). Needs a filter or `all: true`. Works in batches of `batchSize`, one statement
 * per job, so it never holds more than one job's locks at a time (outside a caller's
 * transaction, each job's cancel commits alone). Returns how many it cancelled.
 */
export async function cancelJobs(db: Db, opts: CancelManyOptions): Promise<BulkResult> {
  const { filter, batchSize, schema, o } = checkBulk(opts, "opts", ["reason"]);
  const reason = checkReason(o.reason, "opts.reason", DEFAULT_REASON);
  if (filter.states && !CANCELLABLE.includes(filter.states[0])) {
    throw new ValidationError("opts.state", `must be one of ${CANCELLABLE.join(", ")}`);
  }
  filter.planes = LIVE_PLANES;
  filter.states ??= CANCELLABLE;
  return await withStore(
    db,
    schema,
    "cancelJobs",
    (s) => inBatches(s, filter, batchSize, cancelEach(s, reason)),
  );
}

/** Options of {@link drain}. */
export interface DrainOptions extends SchemaOption {
  /** Reason recorded in each job's errors. Default "drained". */
  reason?: string;
  /** Jobs per batch, 1 to 10 000. Default 500. */
  batchSize?: number;
}

/**
 * Cancel all pending work of `queue`: queued, scheduled, retryable and waiting jobs (running
 * attempts are left to finish). Bounded batches as {@link cancelJobs}. Returns how many it
 * cancelled. Jobs enqueued while it runs may remain; pause the queue first to stop new work.
 */
export async function drain(db: Db, queue: string, opts?: DrainOptions): Promise<BulkResult> {
  checkQueue(queue, "queue");
  const { o, schema } = checkAdminOptions<DrainOptions>(opts, "opts", ["reason", "batchSize"]);
  const reason = checkReason(o.reason, "opts.reason", "drained");
  const batchSize = checkBatchSize(o.batchSize, "opts.batchSize");
  const filter: JobRowFilter = {
    queue,
    planes: LIVE_PLANES,
    states: ["available", "scheduled", "retryable", "waiting_external", "waiting"],
  };
  return await withStore(
    db,
    schema,
    "drain",
    (s) => inBatches(s, filter, batchSize, cancelEach(s, reason)),
  );
}

/** Options of {@link retryJob}. */
export interface RetryOptions extends RetryOverrides, SchemaOption {}

const RETRY_KEYS = ["queue", "priority", "runAt"];

/**
 * Retry one job by its row: a held one (failed, DLQ) runs again under its id with attempt 0
 * and its error history kept; a cancelled one is enqueued again as a copy under a new id (its
 * cancelled record is append-only); one waiting on a callback runs again under its id at once
 * with attempt 0 (as `retryExternal`; overrides do not apply). Returns the id that will run, or
 * null when the row is none of these.
 */
async function retryRow(store: Store, row: JobRow, to: RetryTarget): Promise<string | null> {
  const id = BigInt(row.id);
  if (row.plane === "held") return await retryHeld(store, id, to);
  if (row.state === "cancelled") return await retryCancelled(store, id, to);
  if (row.state === "waiting_external" && row.callback_id !== null) {
    const done = await resolveCallback(store, row.callback_id, "retry");
    return done?.applied ? row.id : null;
  }
  return null;
}

/**
 * Retry one failed, DLQ or cancelled job, optionally to another queue, priority or run time.
 * A failed or DLQ job runs again under its own id (attempt reset, errors kept); a cancelled
 * job is enqueued as a copy under a new id. Returns the id that will run. Unknown id:
 * {@link JobNotFoundError}; any other state: {@link JobStateError}.
 */
export async function retryJob(db: Db, id: number | bigint, opts?: RetryOptions): Promise<number> {
  const jobId = checkJobId(id);
  const { o, schema } = checkAdminOptions<RetryOptions>(opts, "opts", RETRY_KEYS);
  const to = checkOverrides(o, "opts");
  const out = await withStore(db, schema, "retryJob", async (s) => {
    const row = await findJob(s, jobId);
    if (row === null) throw new JobNotFoundError(Number(jobId));
    const got = await retryRow(s, row, to);
    if (got === null) {
      throw new JobStateError(
        Number(jobId),
        row.state,
        "only failed, DLQ, cancelled and waiting_external jobs retry",
      );
    }
    return got;
  });
  return Number(out);
}

const RETRYABLE_PLANES: readonly Plane[] = ["held", "finished", "history"];

/** Options of {@link retryJobs}. */
export interface RetryManyOptions extends BulkOptions {
  /** Where the retried jobs go (queue, priority, run time); absent: where they were. */
  to?: RetryOverrides;
}

/** Check the `to` overrides of a bulk retry. */
export function checkBulkOverrides(to: unknown, field: string): RetryTarget {
  const o = checkOptions<RetryOverrides>(to, field, new Set(RETRY_KEYS));
  return checkOverrides(o, field);
}

/**
 * Retry every failed, DLQ and cancelled job matching the filters (state, if given: `failed` or
 * `cancelled`), as {@link retryJob} does each. Needs a filter or `all: true`; bounded batches,
 * one statement per job. Returns how many it retried.
 */
export async function retryJobs(db: Db, opts: RetryManyOptions): Promise<BulkResult> {
  const { filter, batchSize, schema, o } = checkBulk(opts, "opts", ["to"]);
  const to = checkBulkOverrides(o.to, "opts.to");
  if (filter.states && !["failed", "cancelled"].includes(filter.states[0])) {
    throw new ValidationError("opts.state", "must be failed or cancelled");
  }
  filter.planes = RETRYABLE_PLANES;
  filter.states ??= ["failed", "cancelled"];
  return await withStore(db, schema, "retryJobs", (s) => retryEach(s, filter, batchSize, to));
}

/** Retry each job of `filter` in batches; shared with the DLQ's bulk retry. */
export function retryEach(
  store: Store,
  filter: JobRowFilter,
  batchSize: number,
  to: RetryTarget,
): Promise<BulkResult> {
  return inBatches(store, filter, batchSize, async (rows) => {
    let n = 0;
    for (const r of rows) if (await retryRow(store, r, to) !== null) n++;
    return n;
  });
}

/** How long finished jobs are kept, in ms. */
export interface Retention {
  /** Completed and cancelled jobs in history (and completed unique jobs' keys). */
  completedMs: number;
  /** Failed jobs held for inspection. */
  failedMs: number;
  /** Jobs in the DLQ. */
  dlqMs: number;
}

/** Options of {@link setRetention}: what to change. Absent fields stay as they are. */
export interface SetRetentionOptions extends SchemaOption {
  /** Set a queue's overrides instead of the defaults. */
  queue?: string;
  /** Completed and cancelled jobs. 0 keeps nothing past the ring; null (queue only): default. */
  completedMs?: number | null;
  /** Held failures; null: follow completedMs. */
  failedMs?: number | null;
  /** DLQ; null (queue only): default. */
  dlqMs?: number | null;
}

const MAX_RETENTION_MS = 3650 * 86_400_000;

function checkMs(v: unknown, field: string, nullable: boolean): number | null | undefined {
  if (v === undefined || (v === null && nullable)) return v;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_RETENTION_MS) {
    throw new ValidationError(
      field,
      `must be an integer number of ms from 0 to ${MAX_RETENTION_MS}` +
        `${nullable ? " or null" : ""}, got ${describe(v)}`,
    );
  }
  return v;
}

/**
 * Set the retention of finished jobs: the defaults, or with `queue` that queue's overrides. A
 * job's retention is fixed when its ring slot is pruned (its history row's expiry); a change
 * applies to jobs pruned afterwards. Defaults: completed 24 h, failed as completed, DLQ 30 d.
 */
export async function setRetention(db: Db, opts: SetRetentionOptions): Promise<void> {
  const { o, schema } = checkAdminOptions<SetRetentionOptions>(opts, "opts", [
    "queue",
    "completedMs",
    "failedMs",
    "dlqMs",
  ]);
  const queue = o.queue === undefined ? undefined : checkQueue(o.queue, "opts.queue");
  const perQueue = queue !== undefined;
  const patch = {
    completedMs: checkMs(o.completedMs, "opts.completedMs", perQueue),
    failedMs: checkMs(o.failedMs, "opts.failedMs", true),
    dlqMs: checkMs(o.dlqMs, "opts.dlqMs", perQueue),
  };
  await withStore(
    db,
    schema,
    "setRetention",
    (s) =>
      queue === undefined ? writeRetentionDefaults(s, patch) : writeQueueRetention(s, queue, patch),
  );
}

/** The retention in force: the defaults, or with `queue` what applies to that queue. */
export async function getRetention(
  db: Db,
  opts?: SchemaOption & { queue?: string },
): Promise<Retention> {
  const { o, schema } = checkAdminOptions<SchemaOption & { queue?: string }>(opts, "opts", [
    "queue",
  ]);
  const queue = o.queue === undefined ? undefined : checkQueue(o.queue, "opts.queue");
  const row = await withStore(
    db,
    schema,
    "getRetention",
    (s) => queue === undefined ? readRetentionDefaults(s) : readRetention(s, queue),
  );
  const completedMs = Number(row.completed_ms);
  return {
    completedMs,
    failedMs: row.failed_ms === null ? completedMs : Number(row.failed_ms),
    dlqMs: Number(row.dlq_ms),
  };
}
