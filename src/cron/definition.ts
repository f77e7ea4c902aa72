/**
 * Cron schedules as code declares them: `client.cron(name, expression, job, args, options)`.
 * Everything is validated here, when the schedule is declared, so a bad expression, time zone or
 * option fails before the client writes anything.
 * @module
 */
import { ValidationError } from "../errors.ts";
import {
  checkJson,
  checkKind,
  checkMaxAttempts,
  checkPriority,
  checkQueue,
  checkTags,
  type JobDefinition,
  runValidator,
} from "../job.ts";
import { checkMetadata } from "../producer/options.ts";
import { checkOptions, describe } from "../validate.ts";
import { checkTimezone, type MissedFirePolicy, parseCron } from "./fire_times.ts";

/** Options of one schedule; unset fields fall back to the job definition's defaults. */
export interface CronOptions {
  /** IANA time zone the expression is read in. Default `"UTC"`. */
  timezone?: string;
  /** Queue of the jobs. Default: the definition's queue, else `"default"`. */
  queue?: string;
  /** 1 (most urgent) to 4. Default: the definition's, else 2. */
  priority?: number;
  /** 1 to 1000. Default: the definition's, else 25. */
  maxAttempts?: number;
  /** Up to 20 tags. Default: the definition's. */
  tags?: string[];
  /**
   * JSON object merged into every job's metadata. `cron_name`, `cron_fire_time` and
   * `triggered_manually` are written by Awa; keys starting with `awa:` are reserved.
   */
  metadata?: Record<string, unknown>;
  /**
   * Fires missed while no leader ran or the schedule was paused: `"coalesce"` (default) enqueues
   * one job for the latest of them, `"catch_up"` one per fire, in order, at most 1000 per second.
   */
  missedFire?: MissedFirePolicy;
}

/** A validated schedule, as it is written to `awa.cron_jobs`. */
export interface CronSchedule {
  name: string;
  expression: string;
  timezone: string;
  kind: string;
  queue: string;
  argsJson: string;
  priority: number;
  maxAttempts: number;
  tags: string[];
  metadataJson: string;
  missedFire: MissedFirePolicy;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  "timezone",
  "queue",
  "priority",
  "maxAttempts",
  "tags",
  "metadata",
  "missedFire",
]);

/** Metadata keys the fire and the manual trigger write. */
const WRITTEN_KEYS = new Set(["cron_name", "cron_fire_time", "triggered_manually"]);

/** Check a schedule name: the rules of job kinds (1-200 of letters, digits, `_ . : -`). */
export function checkCronName(name: unknown, field = "name"): string {
  return checkKind(name, field);
}

function checkCronMetadata(metadata: unknown, field: string): string {
  const json = checkMetadata(metadata, field);
  for (const key of Object.keys(metadata ?? {})) {
    if (WRITTEN_KEYS.has(key)) {
      throw new ValidationError(`${field}.${key}`, "is written by Awa on every cron job");
    }
  }
  return json;
}

function checkPolicy(v: unknown, field: string): MissedFirePolicy {
  if (v === undefined) return "coalesce";
  if (v !== "coalesce" && v !== "catch_up") {
    throw new ValidationError(field, `must be "coalesce" or "catch_up", got ${describe(v)}`);
  }
  return v;
}

/**
 * Validate one declared schedule; `field` prefixes the paths of errors (`cron["nightly"]`).
 * Throws a ValidationError naming the offending input; writes nothing.
 */
export function defineCronSchedule<A>(
  name: string,
  expression: string,
  job: JobDefinition<A>,
  args: A,
  options: CronOptions | undefined,
  field: string,
): CronSchedule {
  checkCronName(name, `${field}.name`);
  if (
    typeof job !== "object" || job === null || typeof job.kind !== "string" ||
    typeof job.defaults !== "object" || job.defaults === null
  ) {
    throw new ValidationError(`${field}.job`, "expected a job definition from defineJob()");
  }
  checkKind(job.kind, `${field}.job.kind`);
  const o = checkOptions<CronOptions>(options, `${field}.options`, OPTION_KEYS);
  const timezone = checkTimezone(o.timezone ?? "UTC", `${field}.options.timezone`);
  parseCron(expression, timezone, `${field}.expression`);
  if (args === undefined) {
    throw new ValidationError(`${field}.args`, "args are required (use {} for none)");
  }
  const argsJson = checkJson(args, `${field}.args`);
  runValidator(job, args, `${field}.args`);
  const d = job.defaults;
  return {
    name,
    expression: expression.trim(),
    timezone,
    kind: job.kind,
    queue: checkQueue(o.queue ?? d.queue ?? "default", `${field}.options.queue`),
    argsJson,
    priority: checkPriority(o.priority ?? d.priority ?? 2, `${field}.options.priority`),
    maxAttempts: checkMaxAttempts(
      o.maxAttempts ?? d.maxAttempts ?? 25,
      `${field}.options.maxAttempts`,
    ),
    tags: [...checkTags(o.tags ?? d.tags ?? [], `${field}.options.tags`)],
    metadataJson: checkCronMetadata(o.metadata, `${field}.options.metadata`),
    missedFire: checkPolicy(o.missedFire, `${field}.options.missedFire`),
  };
}
