/**
 * SQL the runtime runs. Hot paths are single calls of plpgsql functions from
 * migrations/ (claim and finalization as last re-created in 008_rescue_lifecycle.sql), one round
 * trip each.
 * @module
 */
import type { Sql } from "postgres";
import { q } from "../schema.ts";
import type { WireOutcome } from "./outcomes.ts";
import type { NextState } from "./policy.ts";

/** A claimed row as `awa.claim_batch` returns it. */
export interface ClaimedRow {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: string;
  run_lease: string;
  attempt: number;
  max_attempts: number;
  kind: string;
  args: unknown;
  priority: number;
  created_at: Date;
  run_at: Date;
  tags: string[];
  metadata: Record<string, unknown>;
  errors: unknown[] | null;
  progress: unknown;
  claimed_at: Date;
  deadline_at: Date | null;
  /** Claimed ahead of free workers: its start must be recorded before its handler runs. */
  held: boolean;
}

/** One item of a finalization flush (see `awa.finalize_attempts`). */
export interface FinalizeItem {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  run_lease: number;
  outcome: WireOutcome;
  /** Planned state (policy.ts); absent in items built in SQL, which plan there. */
  state?: NextState;
  delay_s?: number | null;
  error?: string | null;
  result?: unknown;
  progress?: unknown;
}

/** A row `awa.finalize_attempts` returns for each applied item. */
export interface FinalizedRow {
  job_id: string;
  run_lease: string;
  outcome: string;
  state: string;
  held: string | null;
  run_at: Date | null;
}

/**
 * Claim up to `max` jobs of `queue` (one round trip). The first `free` rows start at once; the
 * rest come back `held` (prefetch). Started rows come before held ones.
 */
export function claimBatch(
  sql: Sql,
  schema: string,
  queue: string,
  max: number,
  deadlineS: number,
  agingS: number,
  instanceId: string,
  free: number = max,
): Promise<ClaimedRow[]> {
  return sql.unsafe(
    q(
      schema,
      `SELECT claim_slot, batch_id::text, idx, job_id::text, run_lease::text, attempt,
        max_attempts, kind, args, priority, created_at, run_at, to_jsonb(tags) AS tags,
        metadata, errors, progress, claimed_at, deadline_at, held
      FROM awa.claim_batch($1, $2, $3, $4, $5::uuid, $6)`,
    ),
    [queue, max, deadlineS, agingS, instanceId, free],
  ) as unknown as Promise<ClaimedRow[]>;
}

/** Finalize attempts in one statement; stale items are absent from the result. */
export function finalizeAttempts(
  sql: Sql,
  schema: string,
  items: FinalizeItem[],
  opts: { tryLocks?: boolean; dlqDefault?: boolean } = {},
): Promise<FinalizedRow[]> {
  return sql.unsafe(
    q(
      schema,
      `SELECT job_id::text, run_lease::text, outcome, state, held, run_at
      FROM awa.finalize_attempts($1::text::jsonb, $2, $3)`,
    ),
    [JSON.stringify(items), opts.tryLocks ?? false, opts.dlqDefault ?? false],
  ) as unknown as Promise<FinalizedRow[]>;
}

/** Save progress of open attempts; returns the ids still open. */
export async function writeProgress(
  sql: Sql,
  schema: string,
  items: {
    claim_slot: number;
    batch_id: string;
    idx: number;
    job_id: number;
    run_lease: number;
    progress: unknown;
  }[],
): Promise<number> {
  const rows = await sql.unsafe(
    q(schema, "SELECT job_id FROM awa.write_progress($1::text::jsonb)"),
    [JSON.stringify(items)],
  );
  return rows.length;
}

/**
 * Append heartbeat rows for the given receipts and refresh the runtime's liveness. Returns
 * false when the runtime has no row (the leader removed it as dead after a long outage).
 */
export async function recordHeartbeat(
  sql: Sql,
  schema: string,
  instanceId: string,
  receipts: { claim_slot: number; receipt: string }[],
): Promise<boolean> {
  const [{ registered }] = await sql.unsafe(
    q(
      schema,
      `WITH beat AS MATERIALIZED (SELECT awa.record_heartbeat($1::uuid, $2::text::jsonb))
      SELECT EXISTS (SELECT 1 FROM awa.runtime_instances WHERE instance_id = $1::uuid)
        AS registered FROM beat`,
    ),
    [instanceId, JSON.stringify(receipts)],
  );
  return registered;
}

/**
 * Record that held attempts start now (one statement for all of them). Rescue hands a held
 * attempt with no recorded start back uncounted, so this must commit before the handler runs.
 */
export async function recordStarts(
  sql: Sql,
  schema: string,
  instanceId: string,
  receipts: { claim_slot: number; receipt: string }[],
): Promise<void> {
  await sql.unsafe(q(schema, "SELECT awa.record_starts($1::uuid, $2::text::jsonb)"), [
    instanceId,
    JSON.stringify(receipts),
  ]);
}
