/**
 * Cancelling jobs: `cancelJobByUniqueKey` finds the live job holding a unique key and cancels
 * it through `cancel_job`.
 * @module
 */
import type { Store } from "./store.ts";

const CANCEL_JOB_BY_UNIQUE_KEY_SQL =
  `SELECT u.job_id::text AS id, {{schema}}.cancel_job(u.job_id, $2) AS state
FROM {{schema}}.job_unique_claims u WHERE u.unique_key = decode($1, 'hex')`;

/**
 * Cancel the job holding unique key `keyHex`, recording `reason` in its errors. Returns the
 * cancelled job's id (a decimal string), or null when no live job holds the key.
 */
export async function cancelJobByUniqueKey(
  store: Store,
  keyHex: string,
  reason: string,
): Promise<string | null> {
  const rows = await store.run<{ id: string; state: string | null }>(
    "cancelJobByUniqueKey",
    CANCEL_JOB_BY_UNIQUE_KEY_SQL,
    [keyHex, reason],
  );
  return rows.find((r) => r.state === "cancelled")?.id ?? null;
}
