/**
 * Cron: every second the leader fires the schedules of `awa.cron_jobs` that are due (see
 * src/cron/evaluate.ts). Each fire advances the schedule's last fire and inserts its job in one
 * fenced statement, so failover never fires twice and never loses a fire.
 * @module
 */
import { type CronPass, evaluateCron } from "../cron/evaluate.ts";
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import type { MaintenanceService, ServiceContext } from "./service.ts";

/** Options of cron evaluation, under `maintenance.cron`. Unknown keys are rejected. */
export interface CronServiceOptions {
  /** Time between evaluations, in ms, 1 to 1 hour. Default 1000. */
  intervalMs?: number;
}

/** Counters of cron evaluation. */
export interface CronStats {
  /** Jobs enqueued by cron fires. */
  cronFired: number;
  /** Fires skipped because another leader had fired the schedule first. */
  cronRacesLost: number;
}

/** Schedules already reported as unreadable, so each is reported once per process. */
const reported = new Set<string>();

/**
 * When each runner's last pass looked (server clock, ms). A pass owes every fire that fell due
 * since, so that evaluation jitter (a pass 1.01 s after the last) never coalesces away a fire of
 * an every-second schedule; only fires due before then, when no leader looked, are missed.
 */
const lastLook = new WeakMap<object, { server: Date; localMs: number }>();

/** Slack after a fire time before the pass that enqueues it, in ms: the clock must have passed it. */
const ALIGN_SLACK_MS = 3;

/** Waits for a fire within one tick at most, each followed by a pass: a tick lasts a few s at most. */
const MAX_WAITS = 4;

/** Pending waits of each client (by instance id), ended at its shutdown. */
const waits = new Map<string, Set<(ended: boolean) => void>>();

/** Wait `ms`; true when cut short because the client `instanceId` shuts down. */
function waitFor(instanceId: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    let set = waits.get(instanceId);
    if (set === undefined) waits.set(instanceId, set = new Set());
    const end = (ended: boolean) => {
      clearTimeout(timer);
      set.delete(end);
      if (set.size === 0) waits.delete(instanceId);
      resolve(ended);
    };
    const timer = setTimeout(() => end(false), ms);
    set.add(end);
  });
}

/**
 * End the waits of client `instanceId` (its shutdown, after maintenance stopped): a tick waiting
 * for the next fire returns at once.
 */
export function endCronWaits(instanceId: string): void {
  for (const end of [...(waits.get(instanceId) ?? [])]) end(true);
}

/** One evaluation, counted, with the time of this look remembered. */
async function evaluatePass(
  ctx: ServiceContext,
  options: Required<CronServiceOptions>,
  stats: CronStats,
): Promise<{ pass: CronPass; seenAtMs: number }> {
  const before = lastLook.get(ctx);
  const startedMs = Date.now();
  // A look of an earlier term (this process was follower since) says nothing about now.
  const recent = before !== undefined &&
    startedMs - before.localMs <= 3 * options.intervalMs + 1000;
  const pass = await evaluateCron(ctx.store, { previous: recent ? before.server : null });
  if (pass.now !== null) lastLook.set(ctx, { server: pass.now, localMs: startedMs });
  stats.cronFired += pass.fired;
  stats.cronRacesLost += pass.lost;
  for (const u of pass.unreadable) {
    const key = `${ctx.schema}\n${u.name}\n${u.timezone}\n${u.expression}`;
    if (reported.has(key)) continue;
    reported.add(key);
    ctx.emit("error", { error: u.error, where: `maintenance cron schedule ${u.name}` });
  }
  // The server read its clock about halfway through the read's round trip.
  return { pass, seenAtMs: (startedMs + pass.readAtMs) / 2 };
}

export const cron: MaintenanceService<
  "cron",
  CronServiceOptions,
  Required<CronServiceOptions>,
  CronStats
> = {
  name: "cron",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs"]);
    return { intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, HOUR_MS, 1000) };
  },
  newStats: () => ({ cronFired: 0, cronRacesLost: 0 }),
  /**
   * Evaluate; then, while the soonest fire comes before the next tick would, wait for it and
   * evaluate again (a few times at most). So fires are enqueued a few ms after their time,
   * instead of up to one interval late.
   */
  async tick(ctx, options, stats) {
    let { pass, seenAtMs } = await evaluatePass(ctx, options, stats);
    // Waiting is worth it whenever the fire comes before the next tick would start (one
    // interval after this one ends). A pass that wakes a little early (the server's clock was
    // read at an estimated instant) finds the fire not yet due and waits the rest.
    for (let round = 0; round < MAX_WAITS && pass.now !== null; round++) {
      const wait = pass.next - pass.now.getTime() - (Date.now() - seenAtMs) + ALIGN_SLACK_MS;
      if (!(wait > 0) || wait >= options.intervalMs) return;
      if (await waitFor(ctx.instanceId, wait)) return;
      ({ pass, seenAtMs } = await evaluatePass(ctx, options, stats));
    }
  },
};
