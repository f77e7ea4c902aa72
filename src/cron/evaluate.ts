/**
 * One evaluation of every unpaused schedule, as the maintenance leader runs it each second: read
 * the schedules and the server's clock, work out the fires each owes (fire_times.ts), and fire
 * each schedule in one statement that advances its last fire only if it is still the value read
 * (storage/cron.ts `fireCronJob`). A schedule another leader fired meanwhile is left alone.
 * @module
 */
import type { Cron } from "croner";
import { fireCronJob, readCronCandidates } from "../storage/cron.ts";
import type { Store } from "../storage/store.ts";
import {
  CATCH_UP_CAP,
  checkTimezone,
  dueFires,
  FIRST_LOOKBACK_MS,
  parseCron,
} from "./fire_times.ts";

/** What one evaluation did. */
export interface CronPass {
  /** Jobs enqueued. */
  fired: number;
  /** Schedules whose fire found their last fire changed (another leader fired them). */
  lost: number;
  /** Schedules whose stored expression or time zone this runtime cannot read. */
  unreadable: { name: string; expression: string; timezone: string; error: unknown }[];
  /** The clock this pass evaluated at (null when no schedule was unpaused). */
  now: Date | null;
  /** The soonest fire after this pass of the schedules it read, ms since the epoch (or Infinity). */
  next: number;
  /** Local clock (`Date.now()`) when the read returned. */
  readAtMs: number;
}

/** Parsed expressions by time zone and text; bounded, since schedules come and go. */
const parsed = new Map<string, Cron>();
/**
 * The earliest fire each schedule state waits for (ms), by expression, time zone and last fire
 * (or creation): a schedule that is not due costs one comparison per pass, not a croner search
 * (about 0.2 ms each).
 */
const waiting = new Map<string, number>();
const CACHE_MAX = 10_000;

function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= CACHE_MAX) map.clear();
  map.set(key, value);
  return value;
}

function cronOf(expression: string, timezone: string): Cron {
  const key = `${timezone}\n${expression}`;
  let cron = parsed.get(key);
  if (cron === undefined) {
    cron = remember(
      parsed,
      key,
      parseCron(expression, checkTimezone(timezone, "timezone"), "cron_expr"),
    );
  }
  return cron;
}

/** Options of {@link evaluateCron}. */
export interface EvaluateOptions {
  /** Replaces the server's clock (tests). */
  now?: Date;
  /**
   * When this evaluator's previous pass looked (its `now`): fires due since then came due
   * between two passes and are all owed, even by `coalesce` schedules (see `dueFires`).
   */
  previous?: Date | null;
  /** Fires of one catch_up schedule per pass at most. Default 1000. */
  cap?: number;
}

/** Evaluate and fire every unpaused schedule once. */
export async function evaluateCron(
  store: Store,
  options: EvaluateOptions = {},
): Promise<CronPass> {
  const candidates = await readCronCandidates(store);
  const pass: CronPass = {
    fired: 0,
    lost: 0,
    unreadable: [],
    now: null,
    next: Infinity,
    readAtMs: Date.now(),
  };
  for (const c of candidates) {
    let cron: Cron;
    try {
      cron = cronOf(c.cron_expr, c.timezone);
    } catch (error) {
      pass.unreadable.push({ name: c.name, expression: c.cron_expr, timezone: c.timezone, error });
      continue;
    }
    const now = pass.now = options.now ?? new Date(c.now);
    const lastFire = c.last_enqueued_at === null ? null : new Date(c.last_enqueued_at);
    const createdAt = new Date(c.created_at);
    const key = `${c.timezone}\n${c.cron_expr}\n${c.last_enqueued_at ?? `new ${c.created_at}`}`;
    let earliest = waiting.get(key);
    if (earliest === undefined) {
      const from = lastFire ?? new Date(createdAt.getTime() - FIRST_LOOKBACK_MS);
      earliest = remember(waiting, key, cron.nextRun(from)?.getTime() ?? Infinity);
    }
    if (earliest > now.getTime()) {
      pass.next = Math.min(pass.next, earliest);
      continue;
    }
    const fires = dueFires(
      cron,
      {
        policy: c.missed_fire_policy,
        lastEnqueuedAt: lastFire,
        createdAt,
      },
      now,
      options.cap ?? CATCH_UP_CAP,
      options.previous ?? null,
    );
    if (fires.length === 0) continue;
    const ids = await fireCronJob(store, c.name, c.last_enqueued_at, fires);
    if (ids.length === 0) pass.lost++;
    else pass.next = Math.min(pass.next, cron.nextRun(fires.at(-1)!)?.getTime() ?? Infinity);
    pass.fired += ids.length;
  }
  return pass;
}
