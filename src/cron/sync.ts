/**
 * The schedules one client declares, and their sync to `awa.cron_jobs`: at start (a failure
 * fails `start()`), then every 60 s, so a schedule deleted by an operator while this deployment
 * still declares it comes back. Sync upserts and never deletes: several deployments may share a
 * database, and removal is explicit (admin `removeCronJob`).
 * @module
 */
import { ValidationError } from "../errors.ts";
import { upsertCronJobs } from "../storage/cron.ts";
import type { Store } from "../storage/store.ts";
import type { CronSchedule } from "./definition.ts";

/** Time between syncs of a running client, in ms. */
export const CRON_SYNC_INTERVAL_MS = 60_000;

/** Declared schedules of one client and the timer that keeps them synced. */
export class CronSync {
  #schedules = new Map<string, CronSchedule>();
  #timer: ReturnType<typeof setInterval> | null = null;

  /** Declare a validated schedule; a second schedule of the same name is refused. */
  add(schedule: CronSchedule, field: string): void {
    if (this.#schedules.has(schedule.name)) {
      throw new ValidationError(field, `a schedule named ${schedule.name} is already declared`);
    }
    this.#schedules.set(schedule.name, schedule);
  }

  get size(): number {
    return this.#schedules.size;
  }

  /** Upsert every declared schedule now; returns how many rows changed. */
  sync(store: Store): Promise<number> {
    return upsertCronJobs(store, [...this.#schedules.values()]);
  }

  /** First sync (throws on failure), then every {@link CRON_SYNC_INTERVAL_MS}. */
  async start(store: Store, onError: (err: unknown) => void): Promise<void> {
    if (this.#schedules.size === 0) return;
    await this.sync(store);
    this.#timer = setInterval(() => {
      this.sync(store).catch(onError);
    }, CRON_SYNC_INTERVAL_MS);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
