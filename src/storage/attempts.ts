/**
 * The completion path and open attempts: `finalizeAttempts` closes attempts with their outcomes
 * (the completer's group flush, shutdown hand-backs and rescue), `writeProgress` saves progress
 * of running attempts, `recordHeartbeat` keeps them and their runtime alive.
 * @module
 */
import type { SlotReceipt } from "./claims.ts";
import type { Store } from "./store.ts";

/** The states a finalize item may plan (the SQL domain `finalize_state`). */
export type FinalizeState = "completed" | "retryable" | "scheduled" | "cancelled" | "failed";

/** One item of a finalization flush (see `finalize_attempts`). */
export interface FinalizeItem {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  run_lease: number;
  /** Closure outcome: an outcome table entry's wire name (`completed`, `retry`, …, `rescue_*`). */
  outcome: string;
  /** Planned state (the runtime's policy); absent in items built in SQL, which plan there. */
  state?: FinalizeState;
  delay_s?: number | null;
  error?: string | null;
  result?: unknown;
  progress?: unknown;
}

/** A row `finalize_attempts` returns for each applied item. */
export interface FinalizedRow {
  job_id: string;
  run_lease: string;
  outcome: string;
  state: string;
  held: string | null;
  run_at: Date | null;
}

/** Progress of one open attempt, addressed by its receipt. */
export interface ProgressItem {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  run_lease: number;
  progress: unknown;
}

const FINALIZE_ATTEMPTS_SQL = `SELECT job_id::text, run_lease::text, outcome, state, held, run_at
FROM {{schema}}.finalize_attempts($1::text::jsonb, $2, $3)`;

/**
 * Finalize attempts in one statement; stale items are absent from the result. `tryLocks` skips
 * attempts whose locks are taken (rescue); `dlqDefault` sends terminal failures of queues
 * without a policy to the DLQ.
 */
export function finalizeAttempts(
  store: Store,
  items: FinalizeItem[],
  opts: { tryLocks?: boolean; dlqDefault?: boolean } = {},
): Promise<FinalizedRow[]> {
  return store.run<FinalizedRow>("finalizeAttempts", FINALIZE_ATTEMPTS_SQL, [
    JSON.stringify(items),
    opts.tryLocks ?? false,
    opts.dlqDefault ?? false,
  ]);
}

/** Save progress of open attempts; returns how many were still open. */
export async function writeProgress(store: Store, items: ProgressItem[]): Promise<number> {
  const rows = await store.run(
    "writeProgress",
    "SELECT job_id FROM {{schema}}.write_progress($1::text::jsonb)",
    [JSON.stringify(items)],
  );
  return rows.length;
}

const RECORD_HEARTBEAT_SQL =
  `WITH beat AS MATERIALIZED (SELECT {{schema}}.record_heartbeat($1::uuid, $2::text::jsonb))
SELECT EXISTS (SELECT 1 FROM {{schema}}.runtime_instances WHERE instance_id = $1::uuid)
  AS registered FROM beat`;

/**
 * Append heartbeat rows for the given receipts and refresh the runtime's liveness. Returns
 * false when the runtime has no row (the leader removed it as dead after a long outage).
 */
export async function recordHeartbeat(
  store: Store,
  instanceId: string,
  receipts: SlotReceipt[],
): Promise<boolean> {
  const [{ registered }] = await store.run<{ registered: boolean }>(
    "recordHeartbeat",
    RECORD_HEARTBEAT_SQL,
    [instanceId, JSON.stringify(receipts)],
  );
  return registered;
}
