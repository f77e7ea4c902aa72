/**
 * Rings: prune then rotate the queue and claim rings. Prune truncates the oldest slot once
 * every claim it issued is closed, carrying its few live rows forward into the current slot;
 * rotation moves the ring's cursor on so that slots age out. Runs every 5 s by default: terminal
 * rows live for 16 rotations (80 s). Each prune's TRUNCATE invalidates the cached plans that name
 * the partitioned tables, so every pooled connection plans its claim, insert and finalize
 * statements again; at one prune per second that replanning was the largest part of latency under
 * steady load (soak p95 at 1000 jobs/s 37–45 ms at 1 s against 28–29 ms at 4 s).
 * @module
 */
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { recordRingOutcomes, type RingOutcome } from "../storage/admin_status.ts";
import { pruneRing, type Ring, rotateRing } from "../storage/maintenance.ts";
import type { Store } from "../storage/store.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of ring maintenance, under `maintenance.rings`. Unknown keys are rejected. */
export interface RingsOptions {
  /** Time between prune-and-rotate runs, in ms, 1 to 1 hour. Default 5000. */
  intervalMs?: number;
}

/** Counters of ring maintenance, by outcome. */
export interface RingsStats {
  /** Rotation outcomes (rotated, skipped_busy, skipped_idle, lost_race) and their counts. */
  rotations: Record<string, number>;
  /** Prune outcomes (pruned, carried, blocked, skipped_…) and their counts. */
  prunes: Record<string, number>;
}

/** Longest wait for prune's ACCESS EXCLUSIVE lock, per try. */
const PRUNE_LOCK_TIMEOUT = "2ms";
/** Further tries of a prune that was blocked. */
const PRUNE_RETRIES = 3;

/**
 * Prune the oldest slot of one ring when its gates pass. While prune waits for its lock,
 * every claim (which reads all slots) queues behind it, so each wait is capped at
 * {@link PRUNE_LOCK_TIMEOUT} and a blocked prune is retried a few times after a short pause
 * rather than waiting longer.
 */
export async function pruneOldestSlot(store: Store, ring: Ring): Promise<string> {
  let outcome = "blocked";
  for (let i = 0; i <= PRUNE_RETRIES && outcome === "blocked"; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    try {
      outcome = await pruneRing(store, ring, PRUNE_LOCK_TIMEOUT);
    } catch (err) {
      // A lock timeout that surfaces after the function's own handler (it fired as the lock
      // was granted) rolled the prune back: the same as blocked.
      if ((err as { code?: string }).code !== "55P03") throw err;
      outcome = "blocked";
    }
  }
  return outcome;
}

/** Outcomes are recorded at most this often, in ms: fast ticks add no statement per tick. */
const RECORD_AT_MOST_MS = 1000;
/** How often a ring whose outcomes do not change is recorded again, in ms. */
const RECORD_EVERY_MS = 10_000;
/**
 * What each runner's ticks last recorded: changed outcomes are written within about a second,
 * a steady ring every 10 s, so recording costs no statement on most ticks and one dead tuple
 * per ring per 10 s on a steady ring.
 */
const recorded = new WeakMap<RingsStats, { key: string; at: number }>();

function count(tally: Record<string, number>, outcome: string): void {
  tally[outcome] = (tally[outcome] ?? 0) + 1;
}

export const rings: MaintenanceService<"rings", RingsOptions, Required<RingsOptions>, RingsStats> =
  {
    name: "rings",
    resolve(options, field) {
      const o = checkOptionalObject(options, field, ["intervalMs"]);
      return { intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, HOUR_MS, 5000) };
    },
    newStats: () => ({ rotations: {}, prunes: {} }),
    async tick(ctx, _options, stats) {
      const outcomes: RingOutcome[] = [];
      for (const ring of ["queue", "claim"] as const) {
        const prune = await pruneOldestSlot(ctx.store, ring);
        const rotate = await rotateRing(ctx.store, ring);
        count(stats.prunes, prune);
        count(stats.rotations, rotate);
        outcomes.push({ ring, prune, rotate });
      }
      // Operators read the last outcome and its reason in storageStatus (src/admin).
      const key = JSON.stringify(outcomes);
      const last = recorded.get(stats);
      const age = last === undefined ? Infinity : Date.now() - last.at;
      if (age >= RECORD_EVERY_MS || (age >= RECORD_AT_MOST_MS && last?.key !== key)) {
        await recordRingOutcomes(ctx.store, outcomes);
        recorded.set(stats, { key, at: Date.now() });
      }
    },
  };
