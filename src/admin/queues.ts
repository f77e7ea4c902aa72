/**
 * Queue administration: {@link pause}, {@link resume} and {@link queueStats}. Each works on any
 * `Db`, inside the caller's transaction too (a pause then takes effect when it commits).
 * @module
 */
import type { Db } from "../db/executor.ts";
import { checkQueue } from "../job.ts";
import { checkSchema } from "../schema.ts";
import {
  allQueueStats,
  queueStats as readQueueStats,
  type QueueStatsRow,
  setQueuePaused,
} from "../storage/admin_queues.ts";
import { checkOptions } from "../validate.ts";
import { adminCall } from "./call.ts";

/** Options of every admin call. */
export interface AdminOptions {
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

const ADMIN_KEYS: ReadonlySet<string> = new Set(["schema"]);

/** The schema named by admin options `opts` (validated; unknown keys rejected). */
export function adminSchema(opts: unknown): string {
  return checkSchema(checkOptions<AdminOptions>(opts, "opts", ADMIN_KEYS).schema, "opts.schema");
}

/** What {@link pause} or {@link resume} did. */
export interface PauseResult {
  /** The queue. */
  queue: string;
  /** Its paused flag now. */
  paused: boolean;
  /** False when the queue already was in that state (nothing was written). */
  changed: boolean;
}

async function setPaused(
  db: Db,
  queue: unknown,
  paused: boolean,
  opts: unknown,
): Promise<PauseResult> {
  const q = checkQueue(queue, "queue");
  const schema = adminSchema(opts);
  const operation = paused ? "pause" : "resume";
  const changed = await adminCall(db, schema, operation, (s) => setQueuePaused(s, q, paused));
  return { queue: q, paused, changed };
}

/**
 * Pause `queue`: once committed, no job of it is claimed and no scheduled or retryable job of
 * it is promoted; running jobs go on to finish. Inserts still succeed. Works for a queue that
 * has no jobs yet. Throws `ValidationError` for a bad queue name, `PermissionDeniedError` for
 * a role without write access.
 */
export function pause(db: Db, queue: string, opts?: AdminOptions): Promise<PauseResult> {
  return setPaused(db, queue, true, opts);
}

/**
 * Resume `queue`: claims and promotion take it up again, and a notification (sent when the
 * transaction commits) wakes its workers at once instead of at their next poll.
 */
export function resume(db: Db, queue: string, opts?: AdminOptions): Promise<PauseResult> {
  return setPaused(db, queue, false, opts);
}

/** Exact statistics of one queue at {@link QueueStats.measuredAt}. */
export interface QueueStats {
  /** The queue. */
  queue: string;
  /** Whether the queue is paused. */
  paused: boolean;
  /** Enqueue shards per priority (default 4). */
  enqueueShards: number;
  /** Jobs by state. Terminal states: see each field. */
  counts: {
    /** Ready to be claimed. */
    available: number;
    /** Claimed and not finished, prefetched ones included. */
    running: number;
    /** Running jobs suspended waiting for an external callback. */
    waitingExternal: number;
    /** Scheduled for later. */
    scheduled: number;
    /** Waiting for their retry backoff. */
    retryable: number;
    /** Completed, ever (lifetime total). */
    completed: number;
    /** Cancelled, ever (lifetime total). */
    cancelled: number;
    /** Failed and held for inspection now (not in the DLQ). */
    failed: number;
  };
  /** Jobs in the dead letter queue now. */
  dlqDepth: number;
  /**
   * Age of the oldest job the queue's lanes would hand out next (now minus its run time), in
   * seconds; 0 when it is not yet due, null when nothing is available.
   */
  lagSeconds: number | null;
  /** Completed at or after `minuteFrom`. */
  completedLastMinute: number;
  /** Completed at or after `hourFrom`. */
  completedLastHour: number;
  /** Failed or dead-lettered at or after `minuteFrom`, and still held. */
  failedLastMinute: number;
  /** Failed or dead-lettered at or after `hourFrom`, and still held. */
  failedLastHour: number;
  /** Start of the "last minute" window: the current whole second minus 60 s. */
  minuteFrom: Date;
  /** Start of the "last hour" window: the current whole second minus 3600 s. */
  hourFrom: Date;
  /** When the statistics were read (database clock). */
  measuredAt: Date;
}

function statsOf(r: QueueStatsRow): QueueStats {
  const measuredAt = new Date(r.measured_at);
  const head = r.oldest_available_at;
  return {
    queue: r.queue,
    paused: r.paused,
    enqueueShards: Number(r.enqueue_shards),
    counts: {
      available: Number(r.available),
      running: Number(r.running),
      waitingExternal: Number(r.waiting_external),
      scheduled: Number(r.scheduled),
      retryable: Number(r.retryable),
      completed: Number(r.completed),
      cancelled: Number(r.cancelled),
      failed: Number(r.failed),
    },
    dlqDepth: Number(r.dlq),
    lagSeconds: head === null ? null : Math.max(0, (r.measured_at - head) / 1000),
    completedLastMinute: Number(r.completed_last_minute),
    completedLastHour: Number(r.completed_last_hour),
    failedLastMinute: Number(r.failed_last_minute),
    failedLastHour: Number(r.failed_last_hour),
    minuteFrom: new Date(r.minute_from),
    hourFrom: new Date(r.hour_from),
    measuredAt,
  };
}

/**
 * Exact statistics of `queue` (a queue without jobs reports zeros), read in one statement: the
 * numbers are one consistent snapshot. Cheap enough to poll every few seconds; its cost grows
 * with the available backlog of the queue (a count over the lanes' index) and the terminal
 * rows still in the ring (docs/operations.md has measurements).
 */
export function queueStats(db: Db, queue: string, opts?: AdminOptions): Promise<QueueStats>;
/** Exact statistics of every queue the schema knows of, ordered by name. */
export function queueStats(db: Db, queue?: undefined, opts?: AdminOptions): Promise<QueueStats[]>;
export async function queueStats(
  db: Db,
  queue?: string,
  opts?: AdminOptions,
): Promise<QueueStats | QueueStats[]> {
  const q = queue === undefined ? undefined : checkQueue(queue, "queue");
  const schema = adminSchema(opts);
  return await adminCall(db, schema, "queueStats", async (s) => {
    if (q !== undefined) return statsOf(await readQueueStats(s, q));
    return (await allQueueStats(s)).map(statsOf);
  });
}
