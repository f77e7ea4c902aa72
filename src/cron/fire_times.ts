/**
 * Fire times of cron expressions, through `croner`: parsing (5 fields, or 6 with leading
 * seconds; 7-field patterns with a year are refused), IANA time zones, and the fires a schedule
 * owes between its last enqueued fire and now. DST follows croner (as Vixie cron): a fixed-time
 * schedule (one value each in seconds, minutes and hours, like `30 2 * * *`) whose time falls in
 * a spring-forward gap fires once at the first valid time after the gap, and once on the first
 * occurrence of a time repeated in the fall; interval schedules skip the gap and fire on both
 * occurrences of a repeated time. Every function here is pure: the clock is passed in.
 * @module
 */
import { Cron } from "croner";
import { ValidationError } from "../errors.ts";
import { describe } from "../validate.ts";

/** What a schedule does with fires it missed (the leader was down, or it was paused). */
export type MissedFirePolicy = "coalesce" | "catch_up";

/** Fires one evaluation of a `catch_up` schedule enqueues at most; the rest wait a pass. */
export const CATCH_UP_CAP = 1000;

/** How far back a schedule's first evaluation looks: from `created_at` minus this, in ms. */
export const FIRST_LOOKBACK_MS = 60_000;

/** Longest expression accepted, in characters. */
const MAX_EXPRESSION_LENGTH = 200;

/** Check an IANA time zone name (`"UTC"`, `"America/New_York"`) that this runtime knows. */
export function checkTimezone(tz: unknown, field: string): string {
  if (typeof tz !== "string" || tz.length === 0 || tz.length > 100) {
    throw new ValidationError(field, `must be an IANA time zone name, got ${describe(tz)}`);
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    throw new ValidationError(
      field,
      `unknown time zone ${describe(tz)}; use an IANA name such as "UTC" or "Europe/Berlin"`,
    );
  }
  return tz;
}

/**
 * Parse `expression` in time zone `timezone` (already checked): 5 fields (minute precision) or 6
 * with leading seconds, or a nickname such as `@hourly`. Day of month and day of week combine
 * with OR. Throws a ValidationError at `field` for anything else, including an expression that
 * never fires (`0 0 30 2 *`).
 */
export function parseCron(expression: unknown, timezone: string, field: string): Cron {
  if (typeof expression !== "string" || expression.trim().length === 0) {
    throw new ValidationError(field, `must be a cron expression, got ${describe(expression)}`);
  }
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw new ValidationError(field, `must be at most ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const parts = expression.trim().split(/\s+/);
  if (!parts[0].startsWith("@") && parts.length !== 5 && parts.length !== 6) {
    throw new ValidationError(
      field,
      `${describe(expression)} has ${parts.length} fields; use 5 (minute hour day month weekday) ` +
        "or 6 with leading seconds" +
        (parts.length === 7 ? " (a year field is not supported)" : ""),
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, {
      timezone,
      paused: true,
      mode: "5-or-6-parts",
      domAndDow: false,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^CronPattern: /, "") : describe(err);
    throw new ValidationError(field, `invalid cron expression ${describe(expression)}: ${why}`, {
      cause: err,
    });
  }
  if (cron.nextRun(new Date()) === null) {
    throw new ValidationError(field, `${describe(expression)} never fires`);
  }
  return cron;
}

/** The first fire strictly after `after`, or null when the expression has no later fire. */
export function nextFire(cron: Cron, after: Date): Date | null {
  return cron.nextRun(after);
}

/** The last known state of one schedule, as evaluation needs it. */
export interface FireState {
  policy: MissedFirePolicy;
  /** The latest fire enqueued, or null before the first. */
  lastEnqueuedAt: Date | null;
  /** When the schedule was first registered. */
  createdAt: Date;
}

/**
 * The fires a schedule owes at `now`, in order: those in `(lastEnqueuedAt, now]`. `catch_up`
 * owes every one, at most `cap` (the earliest ones; the rest are owed at the next evaluation).
 * `coalesce` owes the latest one only, unless `previous` says when the evaluator last looked: a
 * fire that fell due since then was not missed but came due between two evaluations, so every
 * such fire is owed (a 1 s evaluation that ran 1.01 s after the last one owes both seconds).
 * A schedule never fired looks back only to `createdAt` minus one minute and owes at most the
 * latest fire since, whatever its policy: a new schedule never backfills.
 */
export function dueFires(
  cron: Cron,
  state: FireState,
  now: Date,
  cap = CATCH_UP_CAP,
  previous: Date | null = null,
): Date[] {
  const first = state.lastEnqueuedAt === null;
  const from = first
    ? new Date(state.createdAt.getTime() - FIRST_LOOKBACK_MS)
    : state.lastEnqueuedAt as Date;
  const earliest = cron.nextRun(from);
  if (earliest === null || earliest > now) return [];
  if (!first && state.policy === "catch_up") return firesFrom(cron, earliest, now, cap);
  if (!first && previous !== null && previous < now) {
    const sinceLastLook = cron.nextRun(previous > from ? previous : from);
    if (sinceLastLook !== null && sinceLastLook <= now) {
      return firesFrom(cron, sinceLastLook, now, cap);
    }
  }
  // Fires at exactly `now` count: look back from just after it.
  const [latest] = cron.previousRuns(1, new Date(now.getTime() + 1));
  return [latest !== undefined && latest > earliest ? latest : earliest];
}

/** Fires from `start` (a fire) up to `now`, at most `cap`. */
function firesFrom(cron: Cron, start: Date, now: Date, cap: number): Date[] {
  const out: Date[] = [];
  for (let t: Date | null = start; t !== null && t <= now && out.length < cap;) {
    out.push(t);
    t = cron.nextRun(t);
  }
  return out;
}
