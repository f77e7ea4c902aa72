/**
 * Helpers of the cron tests (tests/cron/): declare schedules straight into `awa.cron_jobs`, run
 * evaluations with an injected clock, and read the jobs the fires enqueued.
 */
import type { Sql } from "postgres";
import { defineJob, type JobDefinition } from "../../mod.ts";
import { type CronOptions, defineCronSchedule } from "../../src/cron/definition.ts";
import { type CronPass, evaluateCron } from "../../src/cron/evaluate.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { upsertCronJobs } from "../../src/storage/cron.ts";
import { storeOf } from "../../src/storage/store.ts";

/** The job kind cron tests enqueue. */
export const cronTick: JobDefinition<{ n?: number }> = defineJob<{ n?: number }>("cron_tick", {
  queue: "cron",
});

/** Upsert one schedule of {@link cronTick} as a client's sync would. */
export async function declare(
  sql: Sql,
  name: string,
  expression: string,
  options: CronOptions = {},
): Promise<void> {
  const s = defineCronSchedule(name, expression, cronTick, {}, options, "cron");
  await upsertCronJobs(storeOf(toExecutor(sql), "awa"), [s]);
}

/** One evaluation on `sql`, unfenced, at `now` (default the server's clock). */
export function evaluate(sql: Sql, now?: Date, cap?: number): Promise<CronPass> {
  return evaluateCron(storeOf(toExecutor(sql), "awa"), { now, cap });
}

/** A job enqueued by a schedule. */
export interface CronJobSeen {
  id: number;
  fireTime: string | null;
  manual: boolean;
  createdAt: Date;
}

/** Jobs of schedule `name`, by id (one row per job, whatever family it is in). */
export async function jobsOf(sql: Sql, name: string): Promise<CronJobSeen[]> {
  const rows = await sql<
    { id: number; fire: string | null; manual: boolean | null; created_at: Date }[]
  >`
    SELECT DISTINCT ON (id) id::int AS id, metadata->>'cron_fire_time' AS fire,
      (metadata->>'triggered_manually')::boolean AS manual, created_at
    FROM awa.jobs WHERE metadata->>'cron_name' = ${name} ORDER BY id, run_lease DESC`;
  return rows.map((r) => ({
    id: r.id,
    fireTime: r.fire,
    manual: r.manual === true,
    createdAt: r.created_at,
  }));
}

/** Fire times of schedule `name` as ISO instants, in order of the jobs. */
export async function fireTimesOf(sql: Sql, name: string): Promise<string[]> {
  return (await jobsOf(sql, name)).filter((j) => j.fireTime !== null)
    .map((j) => new Date(j.fireTime!.replace(" ", "T").replace(/\+00$/, "Z")).toISOString());
}

/** Set the last fire of `name` to the server's clock minus `seconds`, truncated to a second. */
export async function setLastFire(sql: Sql, name: string, secondsAgo: number): Promise<Date> {
  const [{ at }] = await sql<{ at: Date }[]>`
    UPDATE awa.cron_jobs SET last_enqueued_at =
      date_trunc('second', clock_timestamp()) - make_interval(secs => ${secondsAgo})
    WHERE name = ${name} RETURNING last_enqueued_at AS at`;
  return at;
}
