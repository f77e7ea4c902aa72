/**
 * The claim path: `claimBatch` takes jobs off a queue's lanes (one round trip), `recordStarts`
 * marks prefetched (held) attempts as started before their handlers run.
 * @module
 */
import type { Store } from "./store.ts";

/** A claimed row as `claim_batch` returns it. */
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

/** A receipt as heartbeats and start records address it (see `receipts.ts`). */
export interface SlotReceipt {
  claim_slot: number;
  receipt: string;
}

// Timestamps travel as epoch milliseconds (floored, so the same instant a Date parsed from the
// text form holds): parsing four timestamp strings per row was the largest part of the client's
// cost of a claim, about 1.6 ms of a 250-row claim's 10 ms.
const CLAIM_BATCH_SQL = `SELECT claim_slot, batch_id::text, idx, job_id::text, run_lease::text,
  attempt, max_attempts, kind, args, priority,
  floor(extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
  floor(extract(epoch FROM run_at) * 1000)::float8 AS run_ms, to_jsonb(tags) AS tags,
  metadata, errors, progress, floor(extract(epoch FROM claimed_at) * 1000)::float8 AS claimed_ms,
  floor(extract(epoch FROM deadline_at) * 1000)::float8 AS deadline_ms, held
FROM {{schema}}.claim_batch($1, $2, $3, $4, $5::uuid, $6)`;

type WireRow = Omit<ClaimedRow, "created_at" | "run_at" | "claimed_at" | "deadline_at"> & {
  created_ms: number;
  run_ms: number;
  claimed_ms: number;
  deadline_ms: number | null;
};

/**
 * Claim up to `max` jobs of `queue` for runtime `instanceId` (one round trip). The first `free`
 * rows start at once; the rest come back `held` (prefetch). Started rows come before held ones.
 * `deadlineS` is the handler deadline and `agingS` the priority aging interval, in seconds.
 */
export async function claimBatch(
  store: Store,
  queue: string,
  max: number,
  deadlineS: number,
  agingS: number,
  instanceId: string,
  free: number = max,
): Promise<ClaimedRow[]> {
  const rows = await store.run<WireRow>("claimBatch", CLAIM_BATCH_SQL, [
    queue,
    max,
    deadlineS,
    agingS,
    instanceId,
    free,
  ]);
  return rows.map(({ created_ms, run_ms, claimed_ms, deadline_ms, ...row }) => ({
    ...row,
    created_at: new Date(created_ms),
    run_at: new Date(run_ms),
    claimed_at: new Date(claimed_ms),
    deadline_at: deadline_ms === null ? null : new Date(deadline_ms),
  }));
}

/**
 * Record that held attempts start now (one statement for all of them). Rescue hands a held
 * attempt with no recorded start back uncounted, so this must commit before the handler runs.
 */
export async function recordStarts(
  store: Store,
  instanceId: string,
  receipts: SlotReceipt[],
): Promise<void> {
  await store.run("recordStarts", "SELECT {{schema}}.record_starts($1::uuid, $2::text::jsonb)", [
    instanceId,
    JSON.stringify(receipts),
  ]);
}
