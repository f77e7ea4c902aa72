/**
 * Storage status for operators: {@link storageStatus}.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { ringStatus, type TableRow, tableStatus } from "../storage/admin_status.ts";
import { adminCall } from "./call.ts";
import { type AdminOptions, adminSchema } from "./queues.ts";

/** Why ring maintenance ended as it did, by outcome (`prune_ring`, `rotate_ring`). */
export const RING_OUTCOME_REASONS: Readonly<Record<string, string>> = {
  pruned: "the oldest slot was truncated",
  carried: "the oldest slot's few live rows were carried into the current slot, then truncated",
  already_pruned: "the oldest slot was already empty",
  nothing: "the ring has not wrapped far enough to have a slot to prune",
  skipped_busy: "another rotate or prune held the ring",
  skipped_live: "an attempt claimed from the slot is still open, or the slot has live rows " +
    "and carrying them is not possible yet",
  skipped_carry_limit: "the slot has more live rows than may be carried; it waits until " +
    "they are claimed",
  blocked: "the slot's ACCESS EXCLUSIVE lock was not granted in time (busy readers)",
  rotated: "the cursor moved to the next slot",
  skipped_idle: "nothing was written since the last rotation",
  lost_race: "another rotation moved the cursor first",
};

/** The last outcome of one maintenance step on a ring. */
export interface RingStepStatus {
  /** Outcome of the last run (`pruned`, `skipped_live`, `rotated`, …). */
  outcome: string;
  /** What the outcome means. */
  reason: string;
  /**
   * When the outcome was recorded. A changed outcome is recorded within about a second and an
   * unchanged one every 10 s while the leader runs, so an older time means no leader runs the
   * rings service.
   */
  checkedAt: Date;
  /**
   * When the step last succeeded (pruned or carried / rotated), to within 10 s; null if never
   * recorded.
   */
  lastSucceededAt: Date | null;
}

/** Size and tuple counts of one table (statistics-collector figures, not exact counts). */
export interface TableStatus {
  /** Table name (without schema). */
  table: string;
  /** Total size with indexes and TOAST, in bytes. */
  totalBytes: number;
  /** Live tuples (estimate). */
  liveTuples: number;
  /** Dead tuples (estimate): what VACUUM still has to reclaim. */
  deadTuples: number;
  /** Last manual VACUUM, null if never. */
  lastVacuum: Date | null;
  /** Last autovacuum, null if never. */
  lastAutovacuum: Date | null;
}

/** One slot of a ring: its partitions. */
export interface SlotStatus {
  /** Slot number. */
  slot: number;
  /** Whether it is the ring's current slot (where writes go). */
  current: boolean;
  /** The slot's partition of each ring table. */
  tables: TableStatus[];
  /** Sum of the partitions' sizes, in bytes. */
  totalBytes: number;
  /** Sum of the partitions' live tuples (estimate). */
  liveTuples: number;
}

/** One ring: cursor, slots and last maintenance. */
export interface RingStatus {
  /** `queue` (ready rows and their terminal facts) or `claim` (attempts). */
  ring: "queue" | "claim";
  /** Number of slots. */
  slotCount: number;
  /** Current slot. */
  currentSlot: number;
  /** Current generation (rotations since install). */
  generation: number;
  /** When the ring last rotated. */
  rotatedAt: Date;
  /** Last prune; null until the rings service has run once on this schema. */
  prune: RingStepStatus | null;
  /** Last rotation; null until the rings service has run once on this schema. */
  rotate: RingStepStatus | null;
  /** The slots, by number. */
  slots: SlotStatus[];
}

/** Storage status: the rings and every table's size and dead tuples. */
export interface StorageStatus {
  /** The queue ring and the claim ring. */
  rings: RingStatus[];
  /** Every table of the schema that is not a ring partition. */
  tables: TableStatus[];
  /** Dead tuples over all tables of the schema (estimate). */
  deadTuples: number;
}

const RING_TABLES: Record<string, "queue" | "claim"> = {
  ready_entries: "queue",
  ready_tombstones: "queue",
  claim_emissions: "queue",
  done_entries: "queue",
  claim_batches: "claim",
  claim_closures: "claim",
  attempt_heartbeats: "claim",
};

const dateOrNull = (ms: number | null) => ms === null ? null : new Date(ms);

function tableOf(r: TableRow): TableStatus {
  return {
    table: r.table_name,
    totalBytes: Number(r.total_bytes),
    liveTuples: Number(r.live_tuples),
    deadTuples: Number(r.dead_tuples),
    lastVacuum: dateOrNull(r.last_vacuum),
    lastAutovacuum: dateOrNull(r.last_autovacuum),
  };
}

function step(
  outcome: string | null,
  checkedAt: number | null,
  succeededAt: number | null,
): RingStepStatus | null {
  if (outcome === null || checkedAt === null) return null;
  return {
    outcome,
    reason: RING_OUTCOME_REASONS[outcome] ?? "outcome not known to this version",
    checkedAt: new Date(checkedAt),
    lastSucceededAt: dateOrNull(succeededAt),
  };
}

/**
 * The rings (current slot and generation, last rotation, last prune and rotate outcome with its
 * reason, per-slot partition sizes) and every table's size and dead tuples. Sizes and tuple
 * counts come from the statistics collector (`pg_stat_user_tables`), so they are estimates
 * that lag by up to a few hundred ms; everything else is read from the schema.
 */
export async function storageStatus(db: Db, opts?: AdminOptions): Promise<StorageStatus> {
  const schema = adminSchema(opts);
  const [rings, tables] = await adminCall(db, schema, "storageStatus", async (s) => {
    const r = await ringStatus(s);
    return [r, await tableStatus(s)] as const;
  });
  const plain: TableStatus[] = [];
  const slots = new Map<string, SlotStatus>();
  for (const row of tables) {
    const ring = row.parent === null ? undefined : RING_TABLES[row.parent];
    if (ring === undefined || row.slot === null) {
      if (row.parent === null) plain.push(tableOf(row));
      continue;
    }
    const key = `${ring}:${row.slot}`;
    let slot = slots.get(key);
    if (!slot) {
      slot = { slot: row.slot, current: false, tables: [], totalBytes: 0, liveTuples: 0 };
      slots.set(key, slot);
    }
    const t = tableOf(row);
    slot.tables.push(t);
    slot.totalBytes += t.totalBytes;
    slot.liveTuples += t.liveTuples;
  }
  const out: RingStatus[] = rings.map((r) => {
    const ringSlots = [...slots.entries()].filter(([k]) => k.startsWith(`${r.ring}:`))
      .map(([, v]) => ({ ...v, current: v.slot === r.slot }))
      .sort((a, b) => a.slot - b.slot);
    return {
      ring: r.ring,
      slotCount: r.slot_count,
      currentSlot: r.slot,
      generation: Number(r.generation),
      rotatedAt: new Date(r.rotated_at),
      prune: step(r.prune_outcome, r.pruned_checked_at, r.last_pruned_at),
      rotate: step(r.rotate_outcome, r.rotate_checked_at, r.last_rotated_at),
      slots: ringSlots,
    };
  });
  const deadTuples = tables.reduce((n, t) => n + Number(t.dead_tuples), 0);
  return { rings: out, tables: plain, deadTuples };
}
