/**
 * Helpers of the admin tests: drive jobs into each state through the engine's own SQL (claim,
 * finalize, prune), without a Client. Not a test file itself.
 */
import type { Sql } from "../support/db.ts";

/**
 * Claim up to `n` ready jobs of `queue` and finalize each with `outcome` (completed, retry,
 * fail, cancel); `dlq` routes failures to the DLQ. Returns the states reached.
 */
export async function claimAndFinalize(
  sql: Sql,
  queue: string,
  outcome: string,
  opts: { n?: number; dlq?: boolean; result?: unknown } = {},
): Promise<string[]> {
  const rows = await sql<{ state: string }[]>`
    SELECT f.state FROM awa.finalize_attempts((
      SELECT jsonb_agg(jsonb_build_object('claim_slot', c.claim_slot, 'batch_id', c.batch_id,
        'idx', c.idx, 'job_id', c.job_id, 'run_lease', c.run_lease, 'outcome', ${outcome}::text,
        'delay_s', 0, 'error', 'boom', 'result', ${
    JSON.stringify(opts.result ?? null)
  }::text::jsonb))
      FROM awa.claim_batch(${queue}, ${opts.n ?? 100}, 300, 60, gen_random_uuid()) c
    ), false, ${opts.dlq ?? false}) f`;
  return rows.map((r) => r.state);
}

/** Claim up to `n` jobs of `queue` and leave them running. Returns their ids. */
export async function claimOnly(sql: Sql, queue: string, n = 100): Promise<number[]> {
  const rows = await sql<{ id: string }[]>`
    SELECT c.job_id::text AS id FROM awa.claim_batch(${queue}, ${n}, 300, 60, gen_random_uuid()) c`;
  return rows.map((r) => Number(r.id));
}

/** Make deferred jobs due and promote them. */
export async function promoteNow(sql: Sql): Promise<void> {
  await sql`UPDATE awa.deferred_jobs SET run_at = now() - interval '1 second'`;
  await sql`SELECT awa.promote_due(1000)`;
}

/**
 * Rotate and prune both rings until no finished job is left in the queue ring (every slot
 * pruned once, at most `rounds` rounds). Returns the number of rounds taken.
 */
export async function pruneRings(sql: Sql, rounds = 40): Promise<number> {
  for (let i = 0; i < rounds; i++) {
    const [{ n }] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM awa.done_entries`;
    if (n === 0) return i;
    await sql`SELECT awa.rotate_ring('claim')`;
    await sql`SELECT awa.prune_ring('claim')`;
    await sql`SELECT awa.rotate_ring('queue')`;
    await sql`SELECT awa.prune_ring('queue')`;
  }
  throw new Error("finished jobs stayed in the ring");
}

/**
 * Everything an admin call could change, as one comparable string: every job with its state
 * and errors, history, holds, unique claims, queue settings and retention.
 */
export async function snapshot(sql: Sql): Promise<string> {
  const parts = await Promise.all([
    sql`SELECT id, state::text, errors, queue, priority, held FROM awa.jobs ORDER BY id, state`,
    sql`SELECT job_id, state::text, expires_at FROM awa.job_history ORDER BY job_id`,
    sql`SELECT job_id, hold_kind, reason FROM awa.dlq_entries ORDER BY job_id`,
    sql`SELECT encode(unique_key, 'hex') AS k, job_id FROM awa.job_unique_claims ORDER BY 1`,
    sql`SELECT * FROM awa.queue_meta ORDER BY queue`,
    sql`SELECT * FROM awa.retention_defaults`,
  ]);
  return JSON.stringify(parts);
}
