/**
 * `@awa/awa/admin`: the admin layer. Every call takes a `Db` (a pool, a transaction, or a
 * node-postgres handle) and works inside the caller's transaction too. Guide:
 * docs/operations.md.
 * @module
 */
export {
  type AdminOptions,
  pause,
  type PauseResult,
  type QueueStats,
  queueStats,
  resume,
} from "./src/admin/queues.ts";
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
export { AwaError, type AwaErrorCode, PermissionDeniedError } from "./src/errors.ts";
export type { Db, PgExecutor, PgQueryable } from "./src/db/executor.ts";
