/**
 * The dead letter queue for operators: list and get DLQ jobs, retry them (one, by filter, all),
 * purge them (one, by filter, all), and move a held failure into the DLQ. Expired DLQ and
 * failed jobs are removed by the `dlq_cleanup` maintenance service.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { JobNotFoundError, JobStateError } from "../errors.ts";
import { jobRows, moveToDlq as moveRow, purgeHeld, retryHeld } from "../storage/admin_jobs.ts";
import {
  checkAdminOptions,
  checkJobId,
  checkOverrides,
  checkReason,
  type SchemaOption,
} from "./filters.ts";
import {
  type BulkOptions,
  checkBulk,
  checkBulkOverrides,
  checkListing,
  inBatches,
  type ListJobsOptions,
  readPage,
  retryEach,
  type RetryManyOptions,
  type RetryOptions,
  withStore,
} from "./jobs.ts";
import { type BulkResult, type JobRecord, type Page, toJobRecord } from "./types.ts";

/** Options of {@link listDlq}: the filters of `listJobs` (state does not apply). */
export type ListDlqOptions = Omit<ListJobsOptions, "state">;

/** A page of DLQ jobs matching the filters, newest first by id (keyset cursor as `listJobs`). */
export async function listDlq(db: Db, opts?: ListDlqOptions): Promise<Page<JobRecord>> {
  const { filter, limit, schema } = checkListing(opts, "opts");
  filter.holdKind = "dlq";
  filter.planes = ["held"];
  return await withStore(db, schema, "listDlq", (s) => readPage(s, filter, limit));
}

/** One DLQ job. Not in the DLQ (unknown, or elsewhere): {@link JobNotFoundError}. */
export async function getDlqJob(
  db: Db,
  id: number | bigint,
  opts?: SchemaOption,
): Promise<JobRecord> {
  const jobId = checkJobId(id);
  const { schema } = checkAdminOptions(opts, "opts", []);
  const [row] = await withStore(
    db,
    schema,
    "getDlqJob",
    (s) => jobRows(s, { id: jobId, planes: ["held"], holdKind: "dlq" }, 1),
  );
  if (row === undefined) throw new JobNotFoundError(Number(jobId), "DLQ job");
  return toJobRecord(row);
}

/**
 * Retry one DLQ job under its id: attempt reset to 0, error history kept, optionally to another
 * queue, priority or run time. Not in the DLQ: {@link JobNotFoundError}.
 */
export async function retryDlq(db: Db, id: number | bigint, opts?: RetryOptions): Promise<number> {
  const jobId = checkJobId(id);
  const { o, schema } = checkAdminOptions<RetryOptions>(opts, "opts", [
    "queue",
    "priority",
    "runAt",
  ]);
  const to = checkOverrides(o, "opts");
  await withStore(db, schema, "retryDlq", async (s) => {
    const [row] = await jobRows(s, { id: jobId, planes: ["held"], holdKind: "dlq" }, 1);
    if (row === undefined || await retryHeld(s, jobId, to) === null) {
      throw new JobNotFoundError(Number(jobId), "DLQ job");
    }
  });
  return Number(jobId);
}

/** Options of {@link retryDlqJobs}. */
export type RetryDlqManyOptions = Omit<RetryManyOptions, "state">;

/**
 * Retry every DLQ job matching the filters (or `all: true`), as {@link retryDlq} does each, in
 * bounded batches. Returns how many it retried.
 */
export async function retryDlqJobs(db: Db, opts: RetryDlqManyOptions): Promise<BulkResult> {
  const { filter, batchSize, schema, o } = checkBulk(opts, "opts", ["to"]);
  const to = checkBulkOverrides(o.to, "opts.to");
  filter.planes = ["held"];
  filter.holdKind = "dlq";
  return await withStore(db, schema, "retryDlqJobs", (s) => retryEach(s, filter, batchSize, to));
}

/** Delete one DLQ job (and the unique claim it holds). Not in the DLQ: {@link JobNotFoundError}. */
export async function purgeDlq(db: Db, id: number | bigint, opts?: SchemaOption): Promise<void> {
  const jobId = checkJobId(id);
  const { schema } = checkAdminOptions(opts, "opts", []);
  const gone = await withStore(db, schema, "purgeDlq", (s) => purgeHeld(s, [jobId], "dlq"));
  if (gone.length === 0) throw new JobNotFoundError(Number(jobId), "DLQ job");
}

/**
 * Delete every DLQ job matching the filters (or `all: true`), one batch per statement. Returns
 * how many it deleted.
 */
export async function purgeDlqJobs(
  db: Db,
  opts: Omit<BulkOptions, "state">,
): Promise<BulkResult> {
  const { filter, batchSize, schema } = checkBulk(opts, "opts");
  filter.planes = ["held"];
  filter.holdKind = "dlq";
  return await withStore(
    db,
    schema,
    "purgeDlqJobs",
    (s) =>
      inBatches(
        s,
        filter,
        batchSize,
        async (rows) => (await purgeHeld(s, rows.map((r) => BigInt(r.id)), "dlq")).length,
      ),
  );
}

/** Options of {@link moveToDlq}. */
export interface MoveToDlqOptions extends SchemaOption {
  /** Recorded as the hold's reason. Default "manual". */
  reason?: string;
}

/**
 * Move a failed job (held for inspection) into the DLQ. Unknown id: {@link JobNotFoundError};
 * a job that is not a held failure: {@link JobStateError}.
 */
export async function moveToDlq(
  db: Db,
  id: number | bigint,
  opts?: MoveToDlqOptions,
): Promise<void> {
  const jobId = checkJobId(id);
  const { o, schema } = checkAdminOptions<MoveToDlqOptions>(opts, "opts", ["reason"]);
  const reason = checkReason(o.reason, "opts.reason", "manual");
  await withStore(db, schema, "moveToDlq", async (s) => {
    if (await moveRow(s, jobId, reason)) return;
    const [row] = await jobRows(s, { id: jobId }, 1);
    if (row === undefined) throw new JobNotFoundError(Number(jobId));
    throw new JobStateError(
      Number(jobId),
      row.hold_kind === "dlq" ? "in the DLQ" : row.state,
      "only failed jobs held for inspection move to the DLQ",
    );
  });
}
