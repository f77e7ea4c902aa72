/**
 * Waiters of job outcomes (`job_waiters`, migration 020): a row asks the transition that ends
 * the job to NOTIFY on the schema's `@result` channel (`awa.notify_waiters`).
 * @module
 */
import type { Store } from "./store.ts";

/**
 * Register waiter `waiter` (a UUID) of job `jobId` for `ttlMs` ms, deleting rows whose waiters
 * expired without removing them (a crashed process).
 */
export async function addJobWaiter(
  store: Store,
  jobId: number,
  waiter: string,
  ttlMs: number,
): Promise<void> {
  await store.run(
    "addJobWaiter",
    `WITH expired AS (
      DELETE FROM {{schema}}.job_waiters WHERE expires_at < clock_timestamp()
    )
    INSERT INTO {{schema}}.job_waiters (job_id, waiter, expires_at)
    VALUES ($1::bigint, $2::uuid, clock_timestamp() + make_interval(secs => $3::float8 / 1000))
    ON CONFLICT (job_id, waiter) DO NOTHING`,
    [String(jobId), waiter, ttlMs],
  );
}

/** Remove the row of waiter `waiter` of job `jobId`. */
export async function removeJobWaiter(store: Store, jobId: number, waiter: string): Promise<void> {
  await store.run(
    "removeJobWaiter",
    "DELETE FROM {{schema}}.job_waiters WHERE job_id = $1::bigint AND waiter = $2::uuid",
    [String(jobId), waiter],
  );
}

/** How a job ended, as {@link readJobEnd} reads it. */
export interface JobEndRow {
  state: string;
  result: unknown;
  errors: unknown[] | null;
  hold_kind: string | null;
}

/**
 * How job `jobId` ended: its row in the planes only an ended job is in (finished, held,
 * history), or null while it has not ended (or is unknown). A waiter reads this after each
 * notice and poll; the full lookup (`jobRows`) reads every plane and costs several times more.
 */
export async function readJobEnd(store: Store, jobId: number): Promise<JobEndRow | null> {
  const rows = await store.run<JobEndRow>(
    "readJobEnd",
    `SELECT t.state::text AS state, t.result, t.errors, NULL::text AS hold_kind
    FROM {{schema}}.done_entries t WHERE t.job_id = $1::bigint
    UNION ALL
    SELECT 'failed', NULL, h.errors, h.hold_kind
    FROM {{schema}}.dlq_entries h WHERE h.job_id = $1::bigint
    UNION ALL
    SELECT j.state::text, j.result, j.errors, NULL
    FROM {{schema}}.job_history j WHERE j.job_id = $1::bigint
    LIMIT 1`,
    [String(jobId)],
  );
  return rows[0] ?? null;
}
