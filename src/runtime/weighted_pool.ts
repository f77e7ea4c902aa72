/**
 * The weighted worker pool of one process (`ClientOptions.globalMaxWorkers`): every queue keeps
 * `minWorkers` guaranteed permits, and the rest of the global budget (the overflow) is shared
 * by weight among the queues that contend for it. Permits are taken before a claim, never
 * waited for: a queue that gets none sleeps until a permit comes back or its poll timer fires.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { describeValue, intIn, QUEUE_LIMITS, type ResolvedQueueConfig } from "./options.ts";

/** Limits of the pool's options; documented on `ClientOptions.globalMaxWorkers`. */
export const POOL_LIMITS = { globalMaxWorkers: 100_000 } as const;

/**
 * Overflow permits a queue may take now: `min(want, free, ceil(overflow · weight / Σ weight of
 * contenders) − held)`, never negative. `held` is the overflow the queue already holds, and
 * `contenderWeight` includes the queue's own weight.
 */
export function overflowShare(
  want: number,
  free: number,
  overflow: number,
  weight: number,
  contenderWeight: number,
  held: number,
): number {
  const fair = Math.ceil((overflow * weight) / contenderWeight);
  return Math.max(0, Math.min(want, free, fair - held));
}

interface QueueSlot {
  readonly min: number;
  readonly weight: number;
  /** Permits held: attempts claimed and not yet finished, plus those of a claim in flight. */
  held: number;
  /** Asked for permits since its last empty claim. */
  demand: boolean;
  /** Called when permits come back while this queue has demand. */
  onFreed: () => void;
}

/** The permits of one queue in a {@link WeightedPool}. */
export interface QueuePermits {
  /** Take up to `want` permits now (marks demand); returns how many were granted. */
  acquire(want: number): number;
  /** Give `n` permits back. */
  release(n: number): void;
  /** The last claim found nothing: stop contending for overflow until the next request. */
  clearDemand(): void;
  /** Called whenever another queue gives permits back while this one has demand. */
  onFreed(listener: () => void): void;
}

/** Permits of every queue of one process, under one global limit. */
export class WeightedPool {
  readonly global: number;
  readonly overflow: number;
  #slots = new Map<string, QueueSlot>();

  /** `queues` maps each queue to its guarantee and weight; Σ min must not exceed `global`. */
  constructor(global: number, queues: Map<string, { min: number; weight: number }>) {
    this.global = global;
    let reserved = 0;
    for (const [name, q] of queues) {
      reserved += q.min;
      this.#slots.set(name, { ...q, held: 0, demand: false, onFreed: () => {} });
    }
    this.overflow = global - reserved;
  }

  /** Permits held by every queue together. */
  get held(): number {
    let n = 0;
    for (const s of this.#slots.values()) n += s.held;
    return n;
  }

  /** Permits `queue` holds now. */
  heldBy(queue: string): number {
    return this.#slot(queue).held;
  }

  /** The permit handle of one queue. */
  permits(queue: string): QueuePermits {
    const slot = this.#slot(queue);
    return {
      acquire: (want) => this.#acquire(slot, want),
      release: (n) => this.#release(slot, n),
      clearDemand: () => {
        slot.demand = false;
      },
      onFreed: (listener) => {
        slot.onFreed = listener;
      },
    };
  }

  #slot(queue: string): QueueSlot {
    const s = this.#slots.get(queue);
    if (!s) throw new ValidationError("queue", `${describeValue(queue)} is not in the pool`);
    return s;
  }

  #acquire(slot: QueueSlot, want: number): number {
    if (want <= 0) return 0;
    slot.demand = true;
    const guaranteed = Math.min(want, Math.max(0, slot.min - slot.held));
    let overflowHeld = 0;
    let contenderWeight = 0;
    for (const s of this.#slots.values()) {
      overflowHeld += Math.max(0, s.held - s.min);
      if (s.demand || s.held > 0) contenderWeight += s.weight;
    }
    const extra = overflowShare(
      want - guaranteed,
      this.overflow - overflowHeld,
      this.overflow,
      slot.weight,
      contenderWeight,
      Math.max(0, slot.held - slot.min),
    );
    slot.held += guaranteed + extra;
    return guaranteed + extra;
  }

  #release(slot: QueueSlot, n: number): void {
    if (n <= 0) return;
    slot.held = Math.max(0, slot.held - n);
    for (const s of this.#slots.values()) {
      if (s !== slot && s.demand) s.onFreed();
    }
  }
}

/**
 * Validate `globalMaxWorkers` against the queues' `minWorkers` and `weight` and build the pool,
 * or return null without `globalMaxWorkers` (each queue then keeps its own `maxWorkers`
 * semaphore, and `minWorkers`/`weight` are errors). A queue that sets no `maxWorkers` may grow
 * to the global limit; `prefetch` is refused, since a prefetched job would need a permit too.
 */
export function buildWeightedPool(
  globalMaxWorkers: unknown,
  raw: Record<string, unknown>,
  queues: Map<string, ResolvedQueueConfig>,
): WeightedPool | null {
  if (globalMaxWorkers === undefined) {
    for (const name of queues.keys()) {
      for (const k of ["minWorkers", "weight"] as const) {
        if ((raw[name] as Record<string, unknown>)[k] !== undefined) {
          throw new ValidationError(
            `queues.${name}.${k}`,
            "only applies to a weighted pool: set options.globalMaxWorkers as well",
          );
        }
      }
    }
    return null;
  }
  const global = intIn(
    globalMaxWorkers,
    "options.globalMaxWorkers",
    1,
    POOL_LIMITS.globalMaxWorkers,
    0,
  );
  let reserved = 0;
  for (const cfg of queues.values()) reserved += cfg.minWorkers;
  if (reserved > global) {
    throw new ValidationError(
      "options.globalMaxWorkers",
      `is ${global}, less than the queues' minWorkers together (${reserved}); raise it or ` +
        "lower their minWorkers",
    );
  }
  const slots = new Map<string, { min: number; weight: number }>();
  for (const [name, cfg] of queues) {
    const own = raw[name] as Record<string, unknown>;
    if (own.maxWorkers === undefined) cfg.maxWorkers = Math.min(global, QUEUE_LIMITS.maxWorkers);
    if (cfg.minWorkers > cfg.maxWorkers) {
      throw new ValidationError(
        `queues.${name}.minWorkers`,
        `must not exceed its maxWorkers (${cfg.maxWorkers}), got ${cfg.minWorkers}`,
      );
    }
    if (cfg.prefetch > 0) {
      throw new ValidationError(
        `queues.${name}.prefetch`,
        "is not supported with options.globalMaxWorkers: every claimed job takes a pool permit",
      );
    }
    slots.set(name, { min: cfg.minWorkers, weight: cfg.weight });
  }
  return new WeightedPool(global, slots);
}
