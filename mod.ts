/**
 * Awa: a Postgres-native background job queue for Deno, Bun and Node.
 *
 * ```ts
 * import postgres from "postgres";
 * import { Client, defineJob, insert, migrate } from "@awa/awa";
 *
 * const sql = postgres(process.env.DATABASE_URL!);
 * await migrate(sql);
 * const sendEmail = defineJob<{ to: string }>("send_email", { queue: "email" });
 * await insert(sql, sendEmail, { to: "alice@example.com" });
 * ```
 * @module
 */
export {
  AwaError,
  type AwaErrorCode,
  ClientStateError,
  CronNotFoundError,
  DatabaseError,
  DeadlineExceededError,
  JobCancelledError,
  JobNotFoundError,
  JobRescuedError,
  JobStateError,
  RuntimeTooOldError,
  SchemaMissingError,
  SchemaTooNewError,
  SchemaTooOldError,
  ShutdownAbortError,
  TerminalError,
  TimeoutError,
  TransactionStateError,
  UniqueConflictError,
  ValidationError,
} from "./src/errors.ts";
// Admin layer (queues, runtimes, storage status, roles): its error, also in @awa/awa/admin.
export { PermissionDeniedError } from "./src/errors.ts";
export { VERSION } from "./src/version.ts";
export {
  type Db,
  fromPg,
  type PgExecutor,
  type PgNotification,
  type PgPool,
  type PgPoolClient,
  type PgQueryable,
} from "./src/db/executor.ts";
export { noDelaySocket, reconnectDelayS, type SocketTarget, withNoDelay } from "./src/db/socket.ts";
export {
  canonicalJson,
  DEFAULT_UNIQUE_STATES,
  JOB_STATES,
  type JobState,
  orderingKeyHash64,
  partitionForOrderingKey,
  partitionHash64,
  stateMaskBits,
  uniqueKeyHex,
  type UniqueKeyInput,
} from "./src/hash.ts";
export {
  type ArgsOf,
  type ArgsValidator,
  type ConcurrencyOptions,
  defineJob,
  type JobDefaults,
  type JobDefinition,
  type ResultOf,
} from "./src/job.ts";
export {
  migrate,
  type MigrateOptions,
  type MigrateResult,
  migrationSql,
  SCHEMA_VERSION,
  schemaVersion,
} from "./src/migrate.ts";
export {
  type InsertOptions,
  type ManyJobOptions,
  MAX_PAYLOAD_BYTES,
  periodBucket,
  type UniqueOptions,
} from "./src/producer/options.ts";
export {
  insert,
  type InsertedJob,
  insertMany,
  type InsertManyOptions,
  type InsertManyResult,
  type ManyJob,
} from "./src/producer/insert.ts";
export {
  Client,
  type ClientOptions,
  type ClientStats,
  type ShutdownOptions,
} from "./src/runtime/client.ts";
export type {
  ClientEvents,
  Handler,
  HeartbeatOptions,
  Job,
  JobContext,
  JobError,
  NotifierOptions,
  Outcome,
  Progress,
  QueueConfig,
  RateLimit,
} from "./src/runtime/types.ts";
export type { ContextOutcome, OutcomeConstructors, OutcomeEvents } from "./src/runtime/outcomes.ts";
export type { MaintenanceOptions, MaintenanceStats } from "./src/maintenance/registry.ts";
export type { LeaderStats } from "./src/maintenance/service.ts";
export type { LeaderOptions } from "./src/maintenance/leader.ts";
export type { PromoteOptions, PromoteStats } from "./src/maintenance/promote.ts";
export type { RescueOptions, RescueStats } from "./src/maintenance/rescue.ts";
export type { RingsOptions, RingsStats } from "./src/maintenance/rings.ts";
export type { FoldOptions, FoldStats } from "./src/maintenance/fold.ts";
export type { RuntimesOptions, RuntimesStats } from "./src/maintenance/runtimes.ts";
export type { HistoryOptions, HistoryStats } from "./src/maintenance/history.ts";
export type { DlqCleanupOptions, DlqCleanupStats } from "./src/maintenance/dlq_cleanup.ts";
export { cancelByUniqueKey, type CancelByUniqueKeyOptions } from "./src/producer/cancel.ts";
export type { CronOptions } from "./src/cron/definition.ts";
export type { MissedFirePolicy } from "./src/cron/fire_times.ts";
export type { CronServiceOptions, CronStats } from "./src/maintenance/cron.ts";

// --- Pub/sub and cache: Postgres-only companions (docs/pubsub.md, docs/cache.md) ---
export { PayloadTooLargeError } from "./src/errors.ts";
export {
  type ChannelDefinition,
  type ChannelOptions,
  defineChannel,
  MAX_CHANNEL_NAME_LENGTH,
  type PayloadOf,
  type PayloadValidator,
} from "./src/pubsub/channel.ts";
export { MAX_PUBLISH_BYTES, publish, type PublishOptions } from "./src/pubsub/publish.ts";
export {
  type ChannelSubscribeOptions,
  type ChannelSubscription,
  type MessageHandler,
  subscribe,
} from "./src/pubsub/subscribe.ts";
export {
  Cache,
  type CacheLoader,
  type CacheOptions,
  type CacheSetOptions,
  type GetOrSetOptions,
} from "./src/cache/cache.ts";
export {
  MAX_CACHE_KEY_LENGTH,
  MAX_CACHE_TTL_MS,
  MAX_CACHE_VALUE_BYTES,
  MAX_NAMESPACE_LENGTH,
} from "./src/cache/limits.ts";
export type { CacheSweepOptions, CacheSweepStats } from "./src/maintenance/cache_sweep.ts";

// --- Results and request-response (docs/results.md) ---
export {
  JobFailedError,
  type JobFailureEntry,
  JobWaitTimeoutError,
  ResultTooLargeError,
} from "./src/errors.ts";
export { MAX_RESULT_BYTES } from "./src/results/cap.ts";
export { insertAndWait, type InsertAndWaitOptions } from "./src/results/insert_and_wait.ts";
export { waitForJob, type WaitOptions } from "./src/results/wait.ts";
export { getJobResult } from "./src/results/read.ts";

// --- Follow-up jobs, flows and batches (docs/flows.md) ---
export { FlowGraphError, type FlowGraphProblem, FlowNotFoundError } from "./src/errors.ts";
export { flowNode, type FlowNodeOptions, followUp } from "./src/flows/build.ts";
export {
  type BatchOptions,
  type FlowInsertOptions,
  insertBatch,
  insertFlow,
} from "./src/flows/insert.ts";
export { type FlowInputs, flowInputs } from "./src/flows/inputs.ts";
export type {
  AnyFollowUp,
  BatchCounts,
  Dependency,
  FailurePolicy,
  FlowNode,
  FlowSpec,
  FollowUp,
  FollowUps,
  InsertedBatch,
  InsertedFlow,
  NodeOptions,
  ParentOutcome,
} from "./src/flows/types.ts";
export type { FlowPruneOptions, FlowPruneStats } from "./src/maintenance/flow_prune.ts";
export type { SingleInsertOptions } from "./src/producer/insert.ts";

// --- Admin layer (also the subpath @awa/awa/admin; docs/admin.md) ---
export * as admin from "./admin.ts";

// --- Callbacks: wait for the outside world (docs/callbacks.md) ---
export { CallbackNotFoundError, StaleAttemptError } from "./src/errors.ts";
export {
  type CallbackResolution,
  cancelCallback,
  completeExternal,
  type DefaultAction,
  type ExternalOptions,
  failExternal,
  heartbeatCallback,
  resolveCallback,
  resumeExternal,
  retryExternal,
} from "./src/callbacks/external.ts";
export type { CallbackExpressions } from "./src/callbacks/cel.ts";
export type {
  CallbackMethods,
  RegisterCallbackOptions,
  WaitForCallbackOptions,
} from "./src/runtime/callbacks.ts";
export type {
  CallbackTimeoutsOptions,
  CallbackTimeoutsStats,
} from "./src/maintenance/callback_timeouts.ts";
// --- Flow control: partitioned queues (docs/flow-control.md) ---
export {
  MAX_PARTITIONS,
  PartitionedQueue,
  type PartitionRoute,
} from "./src/producer/partitioned.ts";
