/**
 * Statements of cron schedules (`awa.cron_jobs`): the runtimes' sync, the leader's evaluation
 * and fire (`fire_cron_job`), and the admin operations (list, pause, resume, trigger through
 * `trigger_cron_job`, remove). Times travel as UTC ISO text with microseconds, so the value a
 * fire compares with is exactly the one it read.
 * @module
 */
import type { CronSchedule } from "../cron/definition.ts";
import type { Store } from "./store.ts";

/** `col` as UTC ISO 8601 text with microseconds, or null. */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** A schedule row, times as exact UTC ISO text. */
export interface CronJobRow {
  name: string;
  cron_expr: string;
  timezone: string;
  kind: string;
  queue: string;
  args: string;
  priority: number;
  max_attempts: number;
  /** JSON array text. */
  tags: string;
  metadata: string;
  missed_fire_policy: "coalesce" | "catch_up";
  last_enqueued_at: string | null;
  paused_at: string | null;
  paused_by: string | null;
  created_at: string;
  updated_at: string;
}

const ROW_COLUMNS = `name, cron_expr, timezone, kind, queue, args::text AS args, priority,
  max_attempts, array_to_json(tags)::text AS tags, metadata::text AS metadata, missed_fire_policy,
  ${iso("last_enqueued_at")} AS last_enqueued_at, ${iso("paused_at")} AS paused_at, paused_by,
  ${iso("created_at")} AS created_at, ${iso("updated_at")} AS updated_at`;

const UPSERT_SQL = `INSERT INTO {{schema}}.cron_jobs AS c (name, cron_expr, timezone, kind, queue,
  args, priority, max_attempts, tags, metadata, missed_fire_policy)
SELECT s.name, s.expression, s.timezone, s.kind, s.queue, s.args::jsonb, s.priority, s.max_attempts,
  ARRAY(SELECT jsonb_array_elements_text(s.tags)), s.metadata::jsonb, s.missed_fire
FROM jsonb_to_recordset($1::text::jsonb) AS s(name text, expression text, timezone text, kind text,
  queue text, args text, priority smallint, max_attempts smallint, tags jsonb, metadata text,
  missed_fire text)
ON CONFLICT (name) DO UPDATE SET cron_expr = EXCLUDED.cron_expr, timezone = EXCLUDED.timezone,
  kind = EXCLUDED.kind, queue = EXCLUDED.queue, args = EXCLUDED.args,
  priority = EXCLUDED.priority, max_attempts = EXCLUDED.max_attempts, tags = EXCLUDED.tags,
  metadata = EXCLUDED.metadata, missed_fire_policy = EXCLUDED.missed_fire_policy,
  updated_at = now()
WHERE (c.cron_expr, c.timezone, c.kind, c.queue, c.args, c.priority, c.max_attempts, c.tags,
  c.metadata, c.missed_fire_policy) IS DISTINCT FROM (EXCLUDED.cron_expr, EXCLUDED.timezone,
  EXCLUDED.kind, EXCLUDED.queue, EXCLUDED.args, EXCLUDED.priority, EXCLUDED.max_attempts,
  EXCLUDED.tags, EXCLUDED.metadata, EXCLUDED.missed_fire_policy)`;

/**
 * Insert or update declared schedules (one statement); never deletes, and leaves the
 * server-side columns (last fire, pause, created_at) alone. A row that already matches is not
 * written. Returns how many rows were written.
 */
export async function upsertCronJobs(store: Store, schedules: CronSchedule[]): Promise<number> {
  if (schedules.length === 0) return 0;
  const rows = schedules.map((s) => ({
    name: s.name,
    expression: s.expression,
    timezone: s.timezone,
    kind: s.kind,
    queue: s.queue,
    args: s.argsJson,
    priority: s.priority,
    max_attempts: s.maxAttempts,
    tags: s.tags,
    metadata: s.metadataJson,
    missed_fire: s.missedFire,
  }));
  const out = await store.run(
    "upsertCronJobs",
    `WITH w AS (${UPSERT_SQL} RETURNING 1)
    SELECT count(*)::int AS n FROM w`,
    [JSON.stringify(rows)],
  );
  return (out[0] as { n: number }).n;
}

/** What evaluation reads of one unpaused schedule. */
export interface DueCandidate {
  name: string;
  cron_expr: string;
  timezone: string;
  missed_fire_policy: "coalesce" | "catch_up";
  last_enqueued_at: string | null;
  created_at: string;
  /** The server's clock at the read, UTC ISO text. */
  now: string;
}

/** Every unpaused schedule with the server's clock (`clock_timestamp()`) at the read. */
export function readCronCandidates(store: Store): Promise<DueCandidate[]> {
  return store.run<DueCandidate>(
    "readCronCandidates",
    `SELECT name, cron_expr, timezone, missed_fire_policy,
      ${iso("last_enqueued_at")} AS last_enqueued_at, ${iso("created_at")} AS created_at,
      ${iso("clock_timestamp()")} AS now
    FROM {{schema}}.cron_jobs WHERE paused_at IS NULL ORDER BY name`,
  );
}

/**
 * Fire schedule `name` for `fireTimes` (`fire_cron_job`) if its last fire is still `expected`
 * (the exact text read) and it is not paused; returns the ids of the jobs enqueued, none when
 * another leader fired first or the schedule was paused or removed meanwhile.
 */
export async function fireCronJob(
  store: Store,
  name: string,
  expected: string | null,
  fireTimes: Date[],
): Promise<string[]> {
  const rows = await store.run<{ id: string }>(
    "fireCronJob",
    `SELECT id::text AS id FROM {{schema}}.fire_cron_job($1, $2::text::timestamptz,
      ARRAY(SELECT jsonb_array_elements_text($3::text::jsonb)::timestamptz)) AS f(id)`,
    [name, expected, JSON.stringify(fireTimes.map((t) => t.toISOString()))],
  );
  return rows.map((r) => r.id);
}

/** Enqueue one job of `name` now (`trigger_cron_job`); its id, or null for no such schedule. */
export async function triggerCronJob(store: Store, name: string): Promise<string | null> {
  const [{ id }] = await store.run<{ id: string | null }>(
    "triggerCronJob",
    "SELECT {{schema}}.trigger_cron_job($1)::text AS id",
    [name],
  );
  return id;
}

/** Every schedule, by name. */
export function listCronJobs(store: Store): Promise<CronJobRow[]> {
  return store.run<CronJobRow>(
    "listCronJobs",
    `SELECT ${ROW_COLUMNS} FROM {{schema}}.cron_jobs ORDER BY name`,
  );
}

/** Pause `name` (kept as it was when already paused); the row, or none for no such schedule. */
export function pauseCronJob(
  store: Store,
  name: string,
  pausedBy: string | null,
): Promise<CronJobRow[]> {
  return store.run<CronJobRow>(
    "pauseCronJob",
    `UPDATE {{schema}}.cron_jobs SET paused_at = coalesce(paused_at, now()),
      paused_by = CASE WHEN paused_at IS NULL THEN $2 ELSE paused_by END, updated_at = now()
    WHERE name = $1 RETURNING ${ROW_COLUMNS}`,
    [name, pausedBy],
  );
}

/** Resume `name`; the row, or none for no such schedule. */
export function resumeCronJob(store: Store, name: string): Promise<CronJobRow[]> {
  return store.run<CronJobRow>(
    "resumeCronJob",
    `UPDATE {{schema}}.cron_jobs SET paused_at = NULL, paused_by = NULL, updated_at = now()
    WHERE name = $1 RETURNING ${ROW_COLUMNS}`,
    [name],
  );
}

/** Delete `name`; whether it existed. Jobs it enqueued stay. */
export async function removeCronJob(store: Store, name: string): Promise<boolean> {
  const rows = await store.run(
    "removeCronJob",
    "DELETE FROM {{schema}}.cron_jobs WHERE name = $1 RETURNING 1",
    [name],
  );
  return rows.length === 1;
}
