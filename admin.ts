/**
 * The admin layer of Awa (`@awa/awa/admin`): find, inspect, retry and cancel any job, drain
 * queues, operate the DLQ and set the retention of finished jobs. Every function takes a `Db`
 * (a pool or the caller's transaction). See docs/admin.md.
 *
 * ```ts
 * import postgres from "postgres";
 * import { getJob, listJobs } from "@awa/awa/admin";
 *
 * const sql = postgres(process.env.DATABASE_URL!);
 * const page = await listJobs(sql, { queue: "email", state: "failed", limit: 20 });
 * const job = await getJob(sql, page.items[0].id);
 * ```
 * @module
 */
// ---- admin layer: jobs and DLQ (admin-jobs) ----
export {
  type BulkOptions,
  cancelJob,
  cancelJobs,
  type CancelManyOptions,
  type CancelOptions,
  drain,
  type DrainOptions,
  getJob,
  getRetention,
  listJobs,
  type ListJobsOptions,
  type Retention,
  retryJob,
  retryJobs,
  type RetryManyOptions,
  type RetryOptions,
  setRetention,
  type SetRetentionOptions,
} from "./src/admin/jobs.ts";
export {
  getDlqJob,
  listDlq,
  type ListDlqOptions,
  moveToDlq,
  type MoveToDlqOptions,
  purgeDlq,
  purgeDlqJobs,
  retryDlq,
  retryDlqJobs,
  type RetryDlqManyOptions,
} from "./src/admin/dlq.ts";
export type { JobFilter, RetryOverrides, SchemaOption } from "./src/admin/filters.ts";
export type { AttemptRecord, BulkResult, HoldRecord, JobRecord, Page } from "./src/admin/types.ts";
export type { Plane } from "./src/storage/admin_jobs.ts";
export { AwaError, type AwaErrorCode, JobNotFoundError, JobStateError } from "./src/errors.ts";
export type { Db } from "./src/db/executor.ts";
export { JOB_STATES, type JobState } from "./src/hash.ts";
