/**
 * The runtime registry for operators: {@link listRuntimes}.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { listRuntimeInstances } from "../storage/admin_status.ts";
import { adminCall } from "./call.ts";
import { type AdminOptions, adminSchema } from "./queues.ts";

/** One runtime instance (a process running a `Client`) as it last reported itself. */
export interface RuntimeInfo {
  /** The instance's id (a UUID). */
  instanceId: string;
  /** Host name the process reported. */
  hostname: string;
  /** Process id on that host. */
  pid: number;
  /** The @awa/awa version it runs. */
  version: string;
  /** Its queues and their settings, as it registered them. */
  queues: Record<string, unknown>;
  /** Whether it holds the maintenance leadership. */
  leader: boolean;
  /** Whether it is shutting down. */
  shuttingDown: boolean;
  /** When it registered. */
  startedAt: Date;
  /** Its last heartbeat. */
  lastSeenAt: Date;
  /** Its heartbeat interval, in ms. */
  snapshotIntervalMs: number;
  /**
   * True when it has not been seen for three heartbeat intervals (each counted as at least
   * 1 s) and at least 30 s: probably gone, and removed by maintenance later.
   */
  stale: boolean;
}

/** Every registered runtime instance, oldest first, stale ones included (see `stale`). */
export async function listRuntimes(db: Db, opts?: AdminOptions): Promise<RuntimeInfo[]> {
  const schema = adminSchema(opts);
  const rows = await adminCall(db, schema, "listRuntimes", listRuntimeInstances);
  return rows.map((r) => ({
    instanceId: r.instance_id,
    hostname: r.hostname,
    pid: Number(r.pid),
    version: r.version,
    queues: JSON.parse(r.queues) as Record<string, unknown>,
    leader: r.leader,
    shuttingDown: r.shutting_down,
    startedAt: new Date(r.started_at),
    lastSeenAt: new Date(r.last_seen_at),
    snapshotIntervalMs: Number(r.snapshot_interval_ms),
    stale: r.stale,
  }));
}
