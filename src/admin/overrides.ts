/**
 * Live queue overrides: change a queue's poll interval, claim batch size, rate limit and
 * deadline on a running fleet. Stored in `queue_overrides`; every running Client applies them
 * over its code config within its refresh interval (at once when the change's notification
 * arrives). An override beats the code config; clearing it (null) restores the code config.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { ValidationError } from "../errors.ts";
import { checkQueue } from "../job.ts";
import {
  type QueueOverridesPatch,
  type QueueOverridesRow,
  readQueueOverrides,
  setQueueOverrides as writeQueueOverrides,
} from "../storage/queue_overrides.ts";
import { checkObject, DAY_MS, describeValue, HOUR_MS, QUEUE_LIMITS } from "../runtime/options.ts";
import { adminCall } from "./call.ts";
import { type AdminOptions, adminSchema } from "./queues.ts";

/** A rate limit override: `perSecond` jobs/s per process, `burst` tokens. */
export interface RateLimitOverride {
  /** Claims per second per process, 0.001–1 000 000. */
  perSecond: number;
  /** Bucket size, 1–1 000 000. Default `max(1, ceil(perSecond))`. */
  burst?: number;
}

/**
 * Overrides to set: a value sets it, `null` clears it (back to the code config), an absent key
 * leaves it as stored.
 */
export interface QueueOverrides {
  /** Fallback poll interval, in ms, 10–3 600 000. */
  pollIntervalMs?: number | null;
  /** Most jobs one claim takes, 1–4096. */
  claimBatchSize?: number | null;
  /**
   * The per-process rate limit. Retunes only a queue whose code config has a `rateLimit`
   * (elsewhere it is stored and ignored); a retune caps the current tokens at the new burst.
   */
  rateLimit?: RateLimitOverride | null;
  /**
   * Deadline of attempts claimed from now on, in ms, 1–86 400 000. Cannot turn deadlines on
   * or off: a queue whose code config has `deadlineMs: 0` ignores it.
   */
  deadlineMs?: number | null;
}

/** The overrides stored for a queue; null fields leave the code config in force. */
export interface QueueOverridesInfo {
  /** The queue. */
  queue: string;
  /** Poll interval override in ms, or null. */
  pollIntervalMs: number | null;
  /** Claim batch size override, or null. */
  claimBatchSize: number | null;
  /** Rate limit override (`burst` null: derived from `perSecond`), or null. */
  rateLimit: { perSecond: number; burst: number | null } | null;
  /** Deadline override in ms, or null. */
  deadlineMs: number | null;
}

const OVERRIDE_KEYS = ["pollIntervalMs", "claimBatchSize", "rateLimit", "deadlineMs"] as const;

function intOrNull(v: unknown, field: string, min: number, max: number): number | null {
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(
      field,
      `must be an integer from ${min} to ${max}, or null to clear it, got ${describeValue(v)}`,
    );
  }
  return v;
}

function toPatch(input: unknown): QueueOverridesPatch {
  const o = checkObject(input, "overrides", OVERRIDE_KEYS);
  if (Object.keys(o).length === 0) {
    throw new ValidationError("overrides", `name at least one of ${OVERRIDE_KEYS.join(", ")}`);
  }
  const patch: QueueOverridesPatch = {};
  if (o.pollIntervalMs !== undefined) {
    patch.poll_interval_ms = intOrNull(o.pollIntervalMs, "overrides.pollIntervalMs", 10, HOUR_MS);
  }
  if (o.claimBatchSize !== undefined) {
    patch.claim_batch_size = intOrNull(
      o.claimBatchSize,
      "overrides.claimBatchSize",
      1,
      QUEUE_LIMITS.claimBatchSize,
    );
  }
  if (o.deadlineMs !== undefined) {
    patch.deadline_ms = intOrNull(o.deadlineMs, "overrides.deadlineMs", 1, DAY_MS);
  }
  if (o.rateLimit === null) {
    patch.rate_per_second = null;
    patch.rate_burst = null;
  } else if (o.rateLimit !== undefined) {
    const rl = checkObject(o.rateLimit, "overrides.rateLimit", ["perSecond", "burst"]);
    const { min, max } = QUEUE_LIMITS.rateLimitPerSecond;
    const ps = rl.perSecond;
    if (typeof ps !== "number" || !Number.isFinite(ps) || ps < min || ps > max) {
      throw new ValidationError(
        "overrides.rateLimit.perSecond",
        `must be a number from ${min} to ${max}, got ${describeValue(ps)}`,
      );
    }
    patch.rate_per_second = ps;
    patch.rate_burst = rl.burst === undefined
      ? null
      : intOrNull(rl.burst, "overrides.rateLimit.burst", 1, QUEUE_LIMITS.rateLimitBurst);
  }
  return patch;
}

function toInfo(queue: string, row: QueueOverridesRow | undefined): QueueOverridesInfo {
  return {
    queue,
    pollIntervalMs: row?.poll_interval_ms ?? null,
    claimBatchSize: row?.claim_batch_size ?? null,
    rateLimit: row && row.rate_per_second !== null
      ? { perSecond: row.rate_per_second, burst: row.rate_burst }
      : null,
    deadlineMs: row?.deadline_ms ?? null,
  };
}

/**
 * Set or clear live overrides of `queue` (see {@link QueueOverrides}); returns what is stored
 * afterwards. Running Clients pick the change up within their refresh interval (10 s, or
 * `AWA_OVERRIDE_REFRESH_MS`), at once when its notification reaches them; inside a
 * transaction, when it commits. Throws `ValidationError` for a bad queue or value (nothing is
 * written), `PermissionDeniedError` for a role without write access.
 */
export async function setQueueOverrides(
  db: Db,
  queue: string,
  overrides: QueueOverrides,
  opts?: AdminOptions,
): Promise<QueueOverridesInfo> {
  const q = checkQueue(queue, "queue");
  const patch = toPatch(overrides);
  const schema = adminSchema(opts);
  const row = await adminCall(
    db,
    schema,
    "setQueueOverrides",
    (s) => writeQueueOverrides(s, q, patch),
  );
  return toInfo(q, row);
}

/** The overrides stored for `queue` (every field null when it has none). */
export async function getQueueOverrides(
  db: Db,
  queue: string,
  opts?: AdminOptions,
): Promise<QueueOverridesInfo> {
  const q = checkQueue(queue, "queue");
  const schema = adminSchema(opts);
  const rows = await adminCall(db, schema, "getQueueOverrides", (s) => readQueueOverrides(s, [q]));
  return toInfo(q, rows[0]);
}

/** Every queue that has overrides stored, by name. */
export async function listQueueOverrides(
  db: Db,
  opts?: AdminOptions,
): Promise<QueueOverridesInfo[]> {
  const schema = adminSchema(opts);
  const rows = await adminCall(
    db,
    schema,
    "listQueueOverrides",
    (s) => readQueueOverrides(s, null),
  );
  return rows.map((r) => toInfo(r.queue, r));
}
