/**
 * The maintenance services a leader runs, and the options and counters they make up. Adding a
 * service is one file (see service.ts) and one entry in {@link SERVICES}; its options then
 * appear under `maintenance.<name>` and its counters in {@link MaintenanceStats}.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { cacheSweep, type CacheSweepOptions, type CacheSweepStats } from "./cache_sweep.ts";
import {
  callbackTimeouts,
  type CallbackTimeoutsOptions,
  type CallbackTimeoutsStats,
} from "./callback_timeouts.ts";
import { checkObject, describeValue } from "../runtime/options.ts";
import { cron, type CronServiceOptions, type CronStats } from "./cron.ts";
import { dlqCleanup, type DlqCleanupOptions, type DlqCleanupStats } from "./dlq_cleanup.ts";
import { flowPrune, type FlowPruneOptions, type FlowPruneStats } from "./flow_prune.ts";
import { fold, type FoldOptions, type FoldStats } from "./fold.ts";
import { history, type HistoryOptions, type HistoryStats } from "./history.ts";
import { type LeaderOptions, type ResolvedLeaderOptions, resolveLeader } from "./leader.ts";
import { promote, type PromoteOptions, type PromoteStats } from "./promote.ts";
import { rescue, type RescueOptions, type RescueStats } from "./rescue.ts";
import { rings, type RingsOptions, type RingsStats } from "./rings.ts";
import { runtimes, type RuntimesOptions, type RuntimesStats } from "./runtimes.ts";
import type { ClientSettings, EnabledService, LeaderStats, MaintenanceService } from "./service.ts";

/** Every service, in the order a new term starts them. */
export const SERVICES = [
  promote,
  rescue,
  rings,
  fold,
  runtimes,
  cacheSweep,
  history,
  dlqCleanup,
  cron,
  callbackTimeouts,
  flowPrune,
] as const;

type Service = typeof SERVICES[number];
// deno-lint-ignore no-explicit-any
type OptionsOf<S> = S extends MaintenanceService<string, infer O, any, any> ? O : never;
// deno-lint-ignore no-explicit-any
type StatsOf<S> = S extends MaintenanceService<string, any, any, infer T> ? T : never;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I
  : never;

/**
 * Maintenance settings of a client, by service; each service's options are optional, and
 * `false` turns that service off on this client (while it leads, nobody runs it). Unknown keys
 * are rejected.
 */
export interface MaintenanceOptions {
  /** Leader election and the leader's lock check. */
  leader?: LeaderOptions;
  /** Moving due scheduled and retrying jobs to available. */
  promote?: PromoteOptions | false;
  /** Rescue of attempts whose heartbeat went stale or that ran past their deadline. */
  rescue?: RescueOptions | false;
  /** Rotation and reclaim of the ring slots. */
  rings?: RingsOptions | false;
  /** Folding of completion receipts into the job history. */
  fold?: FoldOptions | false;
  /** Removal of runtimes unseen for a while. */
  runtimes?: RuntimesOptions | false;
  /** Removal of expired cache entries in bounded batches. */
  cache?: CacheSweepOptions | false;
  /** Upkeep of the finished-job history: partitions made ahead, expired ones dropped. */
  history?: HistoryOptions | false;
  /** Removal of failed and DLQ jobs past their retention, in bounded batches. */
  dlq_cleanup?: DlqCleanupOptions | false;
  /** The leader's evaluation of cron schedules. */
  cron?: CronServiceOptions | false;
  /** Ending attempts whose callback timed out. */
  callback_timeouts?: CallbackTimeoutsOptions | false;
  /** Removal of finished flows past the completed-job retention, in bounded batches. */
  flow_prune?: FlowPruneOptions | false;
}

/** Counters of what maintenance did, for stats and tests: leadership, then every service's. */
export interface MaintenanceStats
  extends
    LeaderStats,
    PromoteStats,
    RescueStats,
    RingsStats,
    FoldStats,
    RuntimesStats,
    CacheSweepStats,
    HistoryStats,
    DlqCleanupStats,
    CronStats,
    CallbackTimeoutsStats,
    FlowPruneStats {}

// The public types above are spelt out for readers; these checks keep them equal to what
// SERVICES declares, so a new service fails `deno check` until it is named in both.
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true
  : false;
const optionsMatch: Equal<
  Required<Omit<MaintenanceOptions, "leader">>,
  { [S in Service as S["name"]]: OptionsOf<S> | false }
> = true;
const statsMatch: Equal<
  { [K in keyof MaintenanceStats]: MaintenanceStats[K] },
  {
    [K in keyof (LeaderStats & Intersection<StatsOf<Service>>)]:
      (LeaderStats & Intersection<StatsOf<Service>>)[K];
  }
> = true;
void optionsMatch, statsMatch;

/** Maintenance options resolved: the leader's settings and the services to run. */
export interface ResolvedMaintenance {
  leader: ResolvedLeaderOptions;
  services: EnabledService[];
  /** The counters of every service (turned off or not), at zero. */
  stats: Record<string, unknown>;
}

const KEYS = ["leader", ...SERVICES.map((s) => s.name)];

/**
 * Validate `ClientOptions.maintenance`: undefined or true for defaults, false for none (null
 * returned), or an object of per-service options.
 */
export function resolveMaintenance(
  input: unknown,
  client: ClientSettings,
): ResolvedMaintenance | null {
  if (input === false) return null;
  if (input !== undefined && input !== true && (typeof input !== "object" || input === null)) {
    throw new ValidationError(
      "maintenance",
      `must be true, false or an object of service options, got ${describeValue(input)}`,
    );
  }
  const o = input === undefined || input === true ? {} : checkObject(input, "maintenance", KEYS);
  const services: EnabledService[] = [];
  for (const service of SERVICES) {
    const given = o[service.name];
    if (given === false) continue;
    const field = `maintenance.${service.name}`;
    // Each service validates its own options; `given` is whatever the caller passed.
    services.push({ service, options: service.resolve(given as never, field, client) });
  }
  return {
    leader: resolveLeader(o.leader, "maintenance.leader"),
    services,
    stats: Object.assign({}, ...SERVICES.map((s) => s.newStats())),
  };
}
