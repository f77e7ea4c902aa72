/**
 * Helpers of the flow-control tests: claim and finalize through the engine's own SQL, with the
 * receipts it returns.
 */
import type { Sql } from "../support/db.ts";

/** A claimed attempt: its receipt and the job's concurrency key. */
export interface Claimed {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  run_lease: number;
  key: string | null;
}

/** Claim up to `max` jobs of `queue` through claim_batch. */
export async function claim(sql: Sql, queue: string, max = 100): Promise<Claimed[]> {
  const rows = await sql<Claimed[]>`
    SELECT claim_slot, batch_id::text, idx, job_id::int AS job_id, run_lease::int AS run_lease,
      metadata ->> 'awa:concurrency_key' AS key
    FROM awa.claim_batch(${queue}, ${max}, 0, 0, ${crypto.randomUUID()}::uuid)`;
  return [...rows];
}

/** Finalize attempts with one outcome (completed, retry with delay 0, snooze, fail, cancel). */
export async function finish(
  sql: Sql,
  items: Claimed[],
  outcome = "completed",
  extra: Record<string, unknown> = {},
): Promise<string[]> {
  if (items.length === 0) return [];
  const json = JSON.stringify(items.map(({ key: _k, ...r }) => ({ ...r, outcome, ...extra })));
  const rows = await sql<{ state: string }[]>`
    SELECT state FROM awa.finalize_attempts(${json}::text::jsonb)`;
  return rows.map((r) => r.state);
}

/** Run promotion once (due deferred jobs back to their lanes). */
export async function promote(sql: Sql): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`SELECT awa.promote_due(4096) AS n`;
  return n;
}
