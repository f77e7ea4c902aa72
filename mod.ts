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
  JobRescuedError,
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
export { VERSION } from "./src/version.ts";
export { type Db, fromPg, type PgExecutor, type PgQueryable } from "./src/db/executor.ts";
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
  defineJob,
  type JobDefaults,
  type JobDefinition,
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
export type { MaintenanceOptions, MaintenanceStats } from "./src/maintenance/registry.ts";
export type { LeaderOptions } from "./src/maintenance/leader.ts";
export type { PromoteOptions } from "./src/maintenance/promote.ts";
export type { RescueOptions } from "./src/maintenance/rescue.ts";
export type { RingsOptions } from "./src/maintenance/rings.ts";
export type { FoldOptions } from "./src/maintenance/fold.ts";
export type { RuntimesOptions } from "./src/maintenance/runtimes.ts";
export { cancelByUniqueKey, type CancelByUniqueKeyOptions } from "./src/producer/cancel.ts";
export type { CronOptions } from "./src/cron/definition.ts";
export type { MissedFirePolicy } from "./src/cron/fire_times.ts";
export type { CronServiceOptions } from "./src/maintenance/cron.ts";
