/**
 * Operations on cron schedules, for operators, the CLI and the UI: list (with the next fire in
 * the schedule's time zone and in UTC), pause and resume, trigger now, remove. Each takes a
 * database handle, so it also works inside the caller's transaction.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { CronNotFoundError } from "../errors.ts";
import { checkCronName } from "../cron/definition.ts";
import { type MissedFirePolicy, nextFire, parseCron } from "../cron/fire_times.ts";
import { checkSchema } from "../schema.ts";
import {
  type CronJobRow,
  listCronJobs as listRows,
  pauseCronJob as pauseRow,
  removeCronJob as removeRow,
  resumeCronJob as resumeRow,
  triggerCronJob as triggerRow,
} from "../storage/cron.ts";
import { adminCall } from "./call.ts";
import { checkDate, checkOptions, checkText } from "../validate.ts";

/** A schedule as stored, with its next fire. */
export interface CronJobInfo {
  /** The schedule's name (its key). */
  name: string;
  /** The cron expression, 5 fields or 6 with leading seconds. */
  expression: string;
  /** IANA time zone the expression is read in. */
  timezone: string;
  /** Job kind of every fire. */
  kind: string;
  /** Queue of the jobs. */
  queue: string;
  /** Args of every job. */
  args: unknown;
  /** Priority of the jobs, 1 to 4. */
  priority: number;
  /** Attempts of each job, 1 to 1000. */
  maxAttempts: number;
  /** Tags of the jobs. */
  tags: string[];
  /** Metadata merged into every job's. */
  metadata: Record<string, unknown>;
  /** What happens to missed fires. */
  missedFire: MissedFirePolicy;
  /** The latest fire enqueued; null before the first. */
  lastEnqueuedAt: Date | null;
  /** When it was paused; null while it runs. */
  pausedAt: Date | null;
  /** Who paused it, as given to {@link pauseCronJob}. */
  pausedBy: string | null;
  /** When it was first registered. */
  createdAt: Date;
  /** When its definition or pause last changed. */
  updatedAt: Date;
  /** The next fire after now, as an instant (print with `toISOString()` for UTC). */
  nextFireAt: Date | null;
  /**
   * The same fire as local time in `timezone` with its UTC offset, ISO 8601
   * (`2026-03-08T03:00:00-04:00`). Null when the expression has no later fire or this runtime
   * cannot read it.
   */
  nextFireLocal: string | null;
}

/** Options of every cron admin operation. */
export interface CronAdminOptions {
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

/** Options of {@link listCronJobs}. */
export interface ListCronJobsOptions extends CronAdminOptions {
  /** The instant next fires are computed after. Default now. */
  now?: Date;
}

/** Options of {@link pauseCronJob}. */
export interface PauseCronJobOptions extends CronAdminOptions {
  /** Who paused it (at most 200 characters), shown by {@link listCronJobs}. */
  pausedBy?: string;
}

const ADMIN_KEYS: ReadonlySet<string> = new Set(["schema"]);
const LIST_KEYS: ReadonlySet<string> = new Set(["schema", "now"]);
const PAUSE_KEYS: ReadonlySet<string> = new Set(["schema", "pausedBy"]);

const date = (v: string) => new Date(v);
const dateOrNull = (v: string | null) => v === null ? null : new Date(v);

/** `at` as local ISO 8601 time in `timezone`, with the zone's offset at that instant. */
export function localIso(at: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "longOffset",
  }).formatToParts(at);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  const offset = p.timeZoneName === "GMT" ? "+00:00" : p.timeZoneName.replace("GMT", "");
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${offset}`;
}

function infoOf(r: CronJobRow, now: Date): CronJobInfo {
  let next: Date | null = null;
  try {
    next = nextFire(parseCron(r.cron_expr, r.timezone, "cron_expr"), now);
  } catch {
    // Written by a runtime that reads more than this one; listed without a next fire.
  }
  return {
    name: r.name,
    expression: r.cron_expr,
    timezone: r.timezone,
    kind: r.kind,
    queue: r.queue,
    args: JSON.parse(r.args),
    priority: Number(r.priority),
    maxAttempts: Number(r.max_attempts),
    tags: JSON.parse(r.tags),
    metadata: JSON.parse(r.metadata),
    missedFire: r.missed_fire_policy,
    lastEnqueuedAt: dateOrNull(r.last_enqueued_at),
    pausedAt: dateOrNull(r.paused_at),
    pausedBy: r.paused_by,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    nextFireAt: next,
    nextFireLocal: next === null ? null : localIso(next, r.timezone),
  };
}

/** Check a schedule name and the options of one operation; returns them with the schema. */
function checkTarget<O extends CronAdminOptions>(
  name: unknown,
  options: unknown,
  keys: ReadonlySet<string>,
): { o: Partial<O>; schema: string } {
  checkCronName(name);
  const o = checkOptions<O>(options, "options", keys);
  return { o, schema: checkSchema(o.schema, "options.schema") };
}

function one(rows: CronJobRow[], name: string): CronJobRow {
  if (rows.length === 0) throw new CronNotFoundError(name);
  return rows[0];
}

/** Every schedule, by name, with its next fire after `options.now` (default now). */
export async function listCronJobs(
  db: Db,
  options: ListCronJobsOptions = {},
): Promise<CronJobInfo[]> {
  const o = checkOptions<ListCronJobsOptions>(options, "options", LIST_KEYS);
  const schema = checkSchema(o.schema, "options.schema");
  const now = o.now === undefined ? undefined : checkDate(o.now, "options.now");
  return await adminCall(db, schema, "listCronJobs", async (store) => {
    const rows = await listRows(store);
    const at = now ?? new Date();
    return rows.map((r) => infoOf(r, at));
  });
}

/**
 * Pause schedule `name`: no fire is enqueued until {@link resumeCronJob}; survives restarts and
 * every runtime's sync. Its last fire stays, so resuming follows its missed-fire policy.
 * Pausing a paused schedule changes nothing. Throws {@link CronNotFoundError}.
 */
export async function pauseCronJob(
  db: Db,
  name: string,
  options: PauseCronJobOptions = {},
): Promise<CronJobInfo> {
  const { o, schema } = checkTarget<PauseCronJobOptions>(name, options, PAUSE_KEYS);
  const by = o.pausedBy === undefined ? null : checkText(o.pausedBy, "options.pausedBy", 200);
  return await adminCall(
    db,
    schema,
    "pauseCronJob",
    async (store) => infoOf(one(await pauseRow(store, name, by), name), new Date()),
  );
}

/**
 * Resume schedule `name`. Fires missed while it was paused follow its policy: `coalesce`
 * enqueues the latest one, `catch_up` all of them. Throws {@link CronNotFoundError}.
 */
export async function resumeCronJob(
  db: Db,
  name: string,
  options: CronAdminOptions = {},
): Promise<CronJobInfo> {
  const { schema } = checkTarget(name, options, ADMIN_KEYS);
  return await adminCall(
    db,
    schema,
    "resumeCronJob",
    async (store) => infoOf(one(await resumeRow(store, name), name), new Date()),
  );
}

/**
 * Enqueue one job of schedule `name` now, paused or not, with `triggered_manually: true` and
 * `cron_name` in its metadata; the timetable (its last fire) does not move. Returns the job id.
 * Throws {@link CronNotFoundError}.
 */
export async function triggerCronJob(
  db: Db,
  name: string,
  options: CronAdminOptions = {},
): Promise<number> {
  const { schema } = checkTarget(name, options, ADMIN_KEYS);
  return await adminCall(db, schema, "triggerCronJob", async (store) => {
    const id = await triggerRow(store, name);
    if (id === null) throw new CronNotFoundError(name);
    return Number(id);
  });
}

/**
 * Delete schedule `name`; returns whether it existed. Jobs it enqueued stay. A running client
 * that still declares the schedule writes it back at its next sync (within 60 s): remove it from
 * the code first.
 */
export async function removeCronJob(
  db: Db,
  name: string,
  options: CronAdminOptions = {},
): Promise<boolean> {
  const { schema } = checkTarget(name, options, ADMIN_KEYS);
  return await adminCall(db, schema, "removeCronJob", (store) => removeRow(store, name));
}
