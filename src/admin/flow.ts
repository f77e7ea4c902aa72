/**
 * Fleet-wide flow control of a queue: the per-key concurrency limit
 * ({@link setConcurrencyLimit}) and the rate limit ({@link setRateLimit}), stored in the database
 * so every process and the SQL enqueue contract agree; both take effect when the caller's
 * transaction commits, on a running fleet, without restarts. See docs/concurrency-keys.md.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { ValidationError } from "../errors.ts";
import { checkQueue } from "../job.ts";
import { readQueueFlow, setKeyLimit, setRateLimit as writeRateLimit } from "../storage/flow.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { adminCall } from "./call.ts";
import { type AdminOptions, adminSchema } from "./queues.ts";

/** Upper bound of a per-key limit. */
export const MAX_PER_KEY = 100_000;

/** Check a per-key limit: an integer from 1 to {@link MAX_PER_KEY}. */
export function checkPerKey(v: unknown, field: string): number {
  return checkInteger(v, field, 1, MAX_PER_KEY);
}

/** What {@link setConcurrencyLimit} did. */
export interface ConcurrencyLimitResult {
  /** The queue. */
  queue: string;
  /** The queue's per-key limit now; null: each job's own limit (`concurrency.perKey`) applies. */
  perKey: number | null;
  /** Waiting jobs the new limit admitted at once. */
  admitted: number;
}

/**
 * Set the fleet-wide per-key concurrency limit of `queue`: at most `perKey` jobs with one
 * concurrency key are admitted (ready, running, retrying or snoozed) at any moment, across all
 * processes. It overrides the limit jobs carry from their definition (`concurrency.perKey`);
 * `null` removes the queue's limit. A higher limit admits waiting jobs in the same transaction;
 * a lower one stops nothing that runs, and admits no more of a key until it is below the limit.
 * Throws `ValidationError` for a bad queue or limit.
 */
export async function setConcurrencyLimit(
  db: Db,
  queue: string,
  perKey: number | null,
  opts?: AdminOptions,
): Promise<ConcurrencyLimitResult> {
  const q = checkQueue(queue, "queue");
  const limit = perKey === null ? null : checkPerKey(perKey, "perKey");
  const schema = adminSchema(opts);
  const admitted = await adminCall(
    db,
    schema,
    "setConcurrencyLimit",
    (s) => setKeyLimit(s, q, limit),
  );
  return { queue: q, perKey: limit, admitted };
}

/** A fleet-wide rate limit: at most `count` claims per `intervalMs` across all processes. */
export interface FleetRateLimit {
  /** Jobs per interval, 1 to 1e9. The bucket holds at most this many (the burst). */
  count: number;
  /** The interval in milliseconds, 1 to 86 400 000 (24 h). Default 1000. */
  intervalMs?: number;
}

const RATE_KEYS: ReadonlySet<string> = new Set(["count", "intervalMs"]);

/** Validate a {@link FleetRateLimit}; returns count and interval. */
export function checkFleetRateLimit(v: unknown, field: string): Required<FleetRateLimit> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ValidationError(field, `must be { count, intervalMs } or null, got ${describe(v)}`);
  }
  const r = checkOptions<FleetRateLimit>(v, field, RATE_KEYS);
  return {
    count: checkInteger(r.count, `${field}.count`, 1, 1_000_000_000),
    intervalMs: r.intervalMs === undefined
      ? 1000
      : checkInteger(r.intervalMs, `${field}.intervalMs`, 1, 86_400_000),
  };
}

/**
 * Set the fleet-wide rate limit of `queue`: claims across all processes take at most
 * `count` jobs per `intervalMs`, drawn from one token bucket in the database (refilled
 * continuously, holding at most `count`, full when set). It applies on top of each process's own
 * `rateLimit`. `null` removes it. Throws `ValidationError` for a bad queue or limit.
 */
export async function setRateLimit(
  db: Db,
  queue: string,
  limit: FleetRateLimit | null,
  opts?: AdminOptions,
): Promise<{ queue: string; limit: Required<FleetRateLimit> | null }> {
  const q = checkQueue(queue, "queue");
  const r = limit === null ? null : checkFleetRateLimit(limit, "limit");
  const schema = adminSchema(opts);
  await adminCall(
    db,
    schema,
    "setRateLimit",
    (s) => writeRateLimit(s, q, r?.count ?? null, r?.intervalMs ?? null),
  );
  return { queue: q, limit: r };
}

/** A queue's fleet-wide flow control, as {@link getFlowControl} reads it. */
export interface FlowControl {
  /** The queue. */
  queue: string;
  /** The queue's per-key limit, or null (jobs' own limits apply). */
  perKey: number | null;
  /** The fleet-wide rate limit, or null. */
  rateLimit: Required<FleetRateLimit> | null;
  /** Keyed jobs holding a key slot (ready, running, retrying or snoozed). */
  admitted: number;
  /** Keyed jobs waiting for their key. */
  waiting: number;
  /** Distinct keys that have waiting jobs. */
  waitingKeys: number;
}

/** Read the flow control of `queue` and how many keyed jobs hold or wait for a slot. */
export async function getFlowControl(
  db: Db,
  queue: string,
  opts?: AdminOptions,
): Promise<FlowControl> {
  const q = checkQueue(queue, "queue");
  const schema = adminSchema(opts);
  const row = await adminCall(db, schema, "getFlowControl", (s) => readQueueFlow(s, q));
  return {
    queue: q,
    perKey: row.per_key,
    rateLimit: row.rate_count === null
      ? null
      : { count: row.rate_count, intervalMs: row.rate_interval_ms! },
    admitted: Number(row.admitted),
    waiting: Number(row.waiting),
    waitingKeys: Number(row.waiting_keys),
  };
}
