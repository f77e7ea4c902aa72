/**
 * Operator entry points of Awa (`@awa/awa/admin`), for scripts, the CLI and the UI.
 *
 * ```ts
 * import postgres from "postgres";
 * import { listCronJobs, pauseCronJob } from "@awa/awa/admin";
 *
 * const sql = postgres(process.env.DATABASE_URL!);
 * for (const s of await listCronJobs(sql)) console.log(s.name, s.nextFireLocal);
 * await pauseCronJob(sql, "nightly_report", { pausedBy: "alice" });
 * ```
 * @module
 */
export {
  type CronAdminOptions,
  type CronJobInfo,
  listCronJobs,
  type ListCronJobsOptions,
  pauseCronJob,
  type PauseCronJobOptions,
  removeCronJob,
  resumeCronJob,
  triggerCronJob,
} from "./src/admin/cron.ts";
export type { MissedFirePolicy } from "./src/cron/fire_times.ts";
