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
  async tick(ctx, _options, stats) {
    const pass = await evaluateCron(ctx.store);
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
