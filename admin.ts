/**
 * The admin layer of Awa (`@awa/awa/admin`): find, inspect, retry and cancel any job, drain,
 * pause and resume queues, exact queue stats, the DLQ, the retention of finished jobs, live
 * runtimes, storage status, least-privilege access levels and cron schedules. Every function takes a `Db` (a
 * pool, the caller's transaction, or a node-postgres handle). See docs/admin.md and
 * docs/operations.md.
 *
 * ```ts
 * import postgres from "postgres";
 * import { getJob, listJobs, queueStats } from "@awa/awa/admin";
 *
 * const sql = postgres(process.env.DATABASE_URL!);
 * const page = await listJobs(sql, { queue: "email", state: "failed", limit: 20 });
 * const job = await getJob(sql, page.items[0].id);
 * const stats = await queueStats(sql, "email");
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
export type {
  AdminJobState,
  AttemptRecord,
  BulkResult,
  HoldRecord,
  JobRecord,
  Page,
} from "./src/admin/types.ts";
export type { Plane } from "./src/storage/admin_jobs.ts";
export { JOB_STATES, type JobState } from "./src/hash.ts";
// ---- admin layer: queues, runtimes, storage status, access levels (admin-ops) ----
export {
  type AdminOptions,
  pause,
  type PauseResult,
  type QueueStats,
  queueStats,
  resume,
} from "./src/admin/queues.ts";
// ---- admin layer: fleet-wide flow control (keyed) ----
export {
  type ConcurrencyLimitResult,
  type FleetRateLimit,
  type FlowControl,
  getFlowControl,
  setConcurrencyLimit,
  setRateLimit,
} from "./src/admin/flow.ts";
export { listRuntimes, type RuntimeInfo } from "./src/admin/runtimes.ts";
export {
  RING_OUTCOME_REASONS,
  type RingStatus,
  type RingStepStatus,
  type SlotStatus,
  type StorageStatus,
  storageStatus,
  type TableStatus,
} from "./src/admin/storage_status.ts";
export { type AccessGrants, grantAccess } from "./src/admin/roles.ts";
export {
  AwaError,
  type AwaErrorCode,
  CronNotFoundError,
  JobNotFoundError,
  JobStateError,
  PermissionDeniedError,
} from "./src/errors.ts";
export type { Db, PgExecutor, PgQueryable } from "./src/db/executor.ts";
// ---- admin layer: cron schedules (docs/cron.md) ----
export {
  type CronAdminOptions,
  type CronJobInfo,
  listCronJobs,
  type ListCronJobsOptions,
  pauseCronJob,
  type PauseCronJobOptions,
  removeCronJob,
  resumeCronJob,
  triggerCronJob,
} from "./src/admin/cron.ts";
export type { MissedFirePolicy } from "./src/cron/fire_times.ts";
// ---- admin layer: live queue overrides (docs/flow-control.md) ----
export {
  getQueueOverrides,
  listQueueOverrides,
  type QueueOverrides,
  type QueueOverridesInfo,
  type RateLimitOverride,
  setQueueOverrides,
} from "./src/admin/overrides.ts";
// ---- admin layer: flows, batches and follow-up groups (docs/flows.md) ----
export {
  cancelFlow,
  type CancelFlowOptions,
  type FlowAdminOptions,
  type FlowDetail,
  type FlowInfo,
  type FlowKind,
  type FlowNodeInfo,
  type FlowState,
  getFlow,
  listFlows,
  type ListFlowsOptions,
} from "./src/admin/flows.ts";
export { FlowNotFoundError } from "./src/errors.ts";
