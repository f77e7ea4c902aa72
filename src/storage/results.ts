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
