/**
 * Cron: every second the leader fires the schedules of `awa.cron_jobs` that are due (see
 * src/cron/evaluate.ts). Each fire advances the schedule's last fire and inserts its job in one
 * fenced statement, so failover never fires twice and never loses a fire.
 * @module
 */
import { evaluateCron } from "../cron/evaluate.ts";
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import type { MaintenanceService } from "./service.ts";

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
  async tick(ctx, options, stats) {
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
  },
};
