/**
 * Rescue: close open attempts that nobody will finish, so their jobs run again. Two kinds,
 * scanned in this order in every run: attempts whose heartbeat went stale (their worker died
 * or stalls) and attempts past their queue's deadline. They share the scan, the closing and
 * the interval, so they are one service; a stale attempt past its deadline is rescued as
 * stale, as it always was.
 * @module
 */
import { checkOptionalObject, DAY_MS, intIn } from "../runtime/options.ts";
import { finalizeAttempts } from "../storage/attempts.ts";
import { rescueCandidates, type RescueKind } from "../storage/maintenance.ts";
import { promoteAllDue } from "./promote.ts";
import type { MaintenanceService, ServiceContext } from "./service.ts";

/** Options of rescue, under `maintenance.rescue`. Unknown keys are rejected. */
export interface RescueOptions {
  /** Time between rescue scans, in ms, 1 to 1 day. Default 30 000. */
  intervalMs?: number;
}

/** Rescue options resolved, with the client settings a scan needs. */
export interface ResolvedRescue {
  intervalMs: number;
  /** `heartbeat.stalenessMs`: an attempt unseen this long is stale. */
  stalenessMs: number;
  /** `dlqEnabledByDefault`: where rescued jobs out of attempts go. */
  dlqDefault: boolean;
}

/** Counters of rescue. */
export interface RescueStats {
  /** Attempts rescued, of both kinds. */
  rescued: number;
}

/** One rescued attempt and the state its job went to. */
export interface Rescued {
  jobId: number;
  runLease: number;
  state: string;
}

/** Attempts one scan closes at most per kind. */
const BATCH = 1000;

/**
 * Close open attempts of one rescue kind (see `awa.rescue_candidates`). A held attempt that
 * never started goes back uncounted; a heartbeat rescue counts the attempt but makes the job
 * due at once, and this step promotes it right away, so the job is available again within the
 * same rescue run; a deadline rescue retries after the normal backoff. Each may also fail
 * (attempts exhausted) or be cancelled as a unique duplicate.
 */
export async function rescueAttempts(
  ctx: Pick<ServiceContext, "store">,
  kind: RescueKind,
  stalenessMs: number,
  dlqDefault: boolean,
): Promise<Rescued[]> {
  const items = await rescueCandidates(ctx.store, kind, stalenessMs / 1000, BATCH);
  if (items.length === 0) return [];
  const rows = await finalizeAttempts(ctx.store, items, { tryLocks: true, dlqDefault });
  const now = Date.now();
  if (rows.some((r) => r.run_at !== null && r.run_at.getTime() <= now)) {
    await promoteAllDue(ctx.store);
  }
  return rows.map((r) => ({
    jobId: Number(r.job_id),
    runLease: Number(r.run_lease),
    state: r.state,
  }));
}

export const rescue: MaintenanceService<"rescue", RescueOptions, ResolvedRescue, RescueStats> = {
  name: "rescue",
  resolve(options, field, client) {
    const o = checkOptionalObject(options, field, ["intervalMs"]);
    return {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, DAY_MS, 30_000),
      stalenessMs: client.heartbeat.stalenessMs,
      dlqDefault: client.dlqDefault,
    };
  },
  newStats: () => ({ rescued: 0 }),
  async tick(ctx, options, stats) {
    for (const reason of ["heartbeat", "deadline"] as const) {
      const rescued = await rescueAttempts(ctx, reason, options.stalenessMs, options.dlqDefault);
      stats.rescued += rescued.length;
      for (const r of rescued) ctx.emit("rescued", { ...r, reason });
    }
  },
};
