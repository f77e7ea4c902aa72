/**
 * Validation of the admin layer's inputs: job ids, list filters, opaque keyset cursors, bulk
 * guards and retry overrides. Every check throws {@link ValidationError} naming the field and
 * what to fix, before anything touches the database.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { JOB_STATES } from "../hash.ts";
import type { AdminJobState } from "./types.ts";
import { checkKind, checkPriority, checkQueue } from "../job.ts";
import { checkSchema } from "../schema.ts";
import type { JobRowFilter } from "../storage/admin_jobs.ts";
import { checkDate, checkInt64, checkOptions, checkText, describe } from "../validate.ts";

/** Filters shared by listings and bulk operations. Absent fields do not filter. */
export interface JobFilter {
  /** Only jobs in this state (`failed` covers failed and DLQ jobs). */
  state?: AdminJobState;
  /** Only jobs of this kind. */
  kind?: string;
  /** Only jobs of this queue. */
  queue?: string;
  /** Only jobs carrying this tag. */
  tag?: string;
  /** Only jobs created at or after this instant. */
  since?: Date;
  /** Only jobs created before this instant. */
  until?: Date;
}

/** Options every admin call takes. */
export interface SchemaOption {
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

const ADMIN_JOB_STATES: readonly AdminJobState[] = [...JOB_STATES, "waiting"];

const FILTER_KEYS = ["state", "kind", "queue", "tag", "since", "until"] as const;

/** The keys of {@link JobFilter}, for option checks. */
export const JOB_FILTER_KEYS: readonly string[] = FILTER_KEYS;

/** Check a job id (a positive safe integer or bigint). */
export function checkJobId(id: unknown, field = "id"): bigint {
  const v = checkInt64(id, field);
  if (v <= 0n) throw new ValidationError(field, `must be a positive job id, got ${describe(id)}`);
  return v;
}

/** Check the filter fields of `o` (already checked for unknown keys) into a storage filter. */
export function checkFilter(o: JobFilter, field: string): JobRowFilter {
  const f: JobRowFilter = {};
  if (o.state !== undefined) {
    if (!(ADMIN_JOB_STATES as readonly unknown[]).includes(o.state)) {
      throw new ValidationError(
        `${field}.state`,
        `must be one of ${ADMIN_JOB_STATES.join(", ")}, got ${describe(o.state)}`,
      );
    }
    f.states = [o.state];
  }
  if (o.kind !== undefined) f.kind = checkKind(o.kind, `${field}.kind`);
  if (o.queue !== undefined) f.queue = checkQueue(o.queue, `${field}.queue`);
  if (o.tag !== undefined) {
    f.tag = checkText(o.tag, `${field}.tag`, 200);
    if (f.tag.length === 0) throw new ValidationError(`${field}.tag`, "must not be empty");
  }
  if (o.since !== undefined) f.since = checkDate(o.since, `${field}.since`);
  if (o.until !== undefined) f.until = checkDate(o.until, `${field}.until`);
  if (f.since && f.until && f.since.getTime() >= f.until.getTime()) {
    throw new ValidationError(`${field}.until`, "must be later than since");
  }
  return f;
}

/** Whether any filter field is set. */
export function hasFilter(o: JobFilter): boolean {
  return FILTER_KEYS.some((k) => o[k] !== undefined);
}

/**
 * The guard of bulk operations: at least one filter, or `all: true`. A call without either is
 * refused, so a forgotten filter never touches every job.
 */
export function checkBulkGuard(o: JobFilter & { all?: unknown }, field: string): void {
  if (o.all !== undefined && o.all !== true) {
    throw new ValidationError(`${field}.all`, `must be true or omitted, got ${describe(o.all)}`);
  }
  if (o.all === true && hasFilter(o)) {
    throw new ValidationError(`${field}.all`, "must not be combined with filters");
  }
  if (o.all !== true && !hasFilter(o)) {
    throw new ValidationError(
      field,
      `needs at least one filter (${FILTER_KEYS.join(", ")}) or all: true`,
    );
  }
}

const CURSOR_PREFIX = "v1.";

/** The opaque cursor that resumes a listing after job `id`. */
export function encodeCursor(id: string): string {
  return CURSOR_PREFIX + btoa(id).replaceAll("=", "");
}

/** Decode a cursor of {@link encodeCursor}. */
export function decodeCursor(cursor: unknown, field: string): bigint {
  const bad = () =>
    new ValidationError(field, "must be a cursor returned as nextCursor by the same listing");
  if (typeof cursor !== "string" || !cursor.startsWith(CURSOR_PREFIX) || cursor.length > 40) {
    throw bad();
  }
  let text: string;
  try {
    text = atob(cursor.slice(CURSOR_PREFIX.length));
  } catch {
    throw bad();
  }
  if (!/^[1-9][0-9]{0,18}$/.test(text)) throw bad();
  const id = BigInt(text);
  if (id >= 1n << 63n) throw bad();
  return id;
}

/** Check a page size: 1 to 1000, default 50. */
export function checkLimit(limit: unknown, field: string): number {
  if (limit === undefined) return 50;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new ValidationError(field, `must be an integer from 1 to 1000, got ${describe(limit)}`);
  }
  return limit;
}

/** Check a bulk batch size: 1 to 10 000, default 500. */
export function checkBatchSize(n: unknown, field: string): number {
  if (n === undefined) return 500;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 10_000) {
    throw new ValidationError(field, `must be an integer from 1 to 10000, got ${describe(n)}`);
  }
  return n;
}

/** Where a retry sends a job; absent fields keep the job's own. */
export interface RetryOverrides {
  /** Another queue. */
  queue?: string;
  /** Another priority (1 to 4). */
  priority?: number;
  /** Run no earlier than this instant (a future time makes the job scheduled). */
  runAt?: Date;
}

/** Check retry overrides (fields of `o` already checked for unknown keys). */
export function checkOverrides(
  o: RetryOverrides,
  field: string,
): { queue: string | null; priority: number | null; runAt: Date | null } {
  return {
    queue: o.queue === undefined ? null : checkQueue(o.queue, `${field}.queue`),
    priority: o.priority === undefined ? null : checkPriority(o.priority, `${field}.priority`),
    runAt: o.runAt === undefined ? null : checkDate(o.runAt, `${field}.runAt`),
  };
}

/** Check a reason text: at most 1000 characters, no NUL. */
export function checkReason(reason: unknown, field: string, fallback: string): string {
  return reason === undefined ? fallback : checkText(reason, field, 1000);
}

/** Check the options object `opts` against `keys` and read its schema. */
export function checkAdminOptions<T extends SchemaOption>(
  opts: unknown,
  field: string,
  keys: readonly string[],
): { o: Partial<T>; schema: string } {
  const o = checkOptions<T>(opts, field, new Set([...keys, "schema"]));
  return { o, schema: checkSchema(o.schema, `${field}.schema`) };
}
