/**
 * Live overrides in a running Client: every refresh reads the `queue_overrides` rows of the
 * client's queues and retunes each dispatcher to its code config with the overrides on top.
 * Precedence: a stored override beats the code config; clearing it restores the code config.
 * @module
 */
import process from "node:process";
import { toDatabaseError } from "../db/classify.ts";
import { ValidationError } from "../errors.ts";
import { type QueueOverridesRow, readQueueOverrides } from "../storage/queue_overrides.ts";
import type { Store } from "../storage/store.ts";
import type { QueueDispatcher } from "./dispatcher.ts";
import { describeValue, type ResolvedQueueConfig } from "./options.ts";

/** Default time between two reads of the overrides, in ms. */
export const DEFAULT_OVERRIDE_REFRESH_MS = 10_000;
/** Shortest refresh interval `AWA_OVERRIDE_REFRESH_MS` may ask for, in ms. */
export const MIN_OVERRIDE_REFRESH_MS = 50;
/**
 * Whether a notice on the runtime's control topic (`@cancel`) announces an override change
 * (`{"overrides": queue}`): it rides the channel every Client already listens on, so overrides
 * cost no extra LISTEN.
 */
export function isOverridesNotice(notice: unknown): boolean {
  return typeof notice === "object" && notice !== null && Object.hasOwn(notice, "overrides");
}

/**
 * The refresh interval: `AWA_OVERRIDE_REFRESH_MS` when set (raised to 50 ms), else 10 s. A
 * value that is not a positive number is a {@link ValidationError}; a process not allowed to
 * read its environment (Deno without `--allow-env`) uses the default.
 */
export function overrideRefreshMs(): number {
  let raw: string | undefined;
  try {
    raw = process.env.AWA_OVERRIDE_REFRESH_MS;
  } catch {
    return DEFAULT_OVERRIDE_REFRESH_MS;
  }
  if (raw === undefined || raw === "") return DEFAULT_OVERRIDE_REFRESH_MS;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ValidationError(
      "AWA_OVERRIDE_REFRESH_MS",
      `must be a positive number of milliseconds, got ${describeValue(raw)}`,
    );
  }
  return Math.max(MIN_OVERRIDE_REFRESH_MS, Math.min(ms, 3_600_000));
}

/**
 * `base` with the stored overrides on top. The rate limit only retunes a limiter the code
 * config has, and the deadline cannot cross zero (turn on or off): both need the code's say.
 */
export function effectiveConfig(
  base: ResolvedQueueConfig,
  row: QueueOverridesRow | undefined,
): ResolvedQueueConfig {
  if (!row) return base;
  const rate = row.rate_per_second;
  return {
    ...base,
    pollIntervalMs: row.poll_interval_ms ?? base.pollIntervalMs,
    claimBatchSize: row.claim_batch_size ?? base.claimBatchSize,
    deadlineMs: base.deadlineMs > 0 && row.deadline_ms !== null ? row.deadline_ms : base.deadlineMs,
    rateLimit: base.rateLimit && rate !== null
      ? { perSecond: rate, burst: row.rate_burst ?? Math.max(1, Math.ceil(rate)) }
      : base.rateLimit,
  };
}

function sameConfig(a: ResolvedQueueConfig, b: ResolvedQueueConfig): boolean {
  return a.pollIntervalMs === b.pollIntervalMs && a.claimBatchSize === b.claimBatchSize &&
    a.deadlineMs === b.deadlineMs && a.rateLimit?.perSecond === b.rateLimit?.perSecond &&
    a.rateLimit?.burst === b.rateLimit?.burst;
}

/** Keeps a client's dispatchers tuned to the stored overrides. */
export class OverrideRefresher {
  #store: Store;
  #dispatchers: readonly QueueDispatcher[];
  #bases: ReadonlyMap<string, ResolvedQueueConfig>;
  #onError: (err: unknown) => void;
  #timer: ReturnType<typeof setInterval> | null = null;
  #running: Promise<void> | null = null;
  #again = false;

  /** `bases` are the code configs of the dispatchers' queues. */
  constructor(
    store: Store,
    dispatchers: readonly QueueDispatcher[],
    bases: ReadonlyMap<string, ResolvedQueueConfig>,
    onError: (err: unknown) => void,
  ) {
    this.#store = store;
    this.#dispatchers = dispatchers;
    this.#bases = bases;
    this.#onError = onError;
  }

  /** Refresh every `intervalMs` until {@link stop}. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
  }

  /** Read the overrides now and retune; a refresh asked for while one runs runs after it. */
  refresh(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#refreshLoop().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #refreshLoop(): Promise<void> {
    do {
      this.#again = false;
      try {
        const rows = await readQueueOverrides(this.#store, [...this.#bases.keys()]);
        const byQueue = new Map(rows.map((r) => [r.queue, r]));
        for (const d of this.#dispatchers) {
          const next = effectiveConfig(this.#bases.get(d.queue)!, byQueue.get(d.queue));
          if (!sameConfig(next, d.config)) d.retune(next);
        }
      } catch (err) {
        this.#onError(toDatabaseError(err, "read queue overrides"));
      }
    } while (this.#again);
  }

  /** Stop refreshing; waits for a refresh in progress. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
