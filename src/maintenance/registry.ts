/**
 * The maintenance services a leader runs, and the options and counters they make up. Adding a
 * service is one file (see service.ts) and one entry in {@link SERVICES}; its options then
 * appear under `maintenance.<name>` and its counters in {@link MaintenanceStats}.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkObject, describeValue } from "../runtime/options.ts";
import { cron } from "./cron.ts";
import { fold } from "./fold.ts";
import { type LeaderOptions, type ResolvedLeaderOptions, resolveLeader } from "./leader.ts";
import { promote } from "./promote.ts";
import { rescue } from "./rescue.ts";
import { rings } from "./rings.ts";
import { runtimes } from "./runtimes.ts";
import type { ClientSettings, EnabledService, LeaderStats, MaintenanceService } from "./service.ts";

/** Every service, in the order a new term starts them. */
export const SERVICES = [promote, rescue, rings, fold, runtimes, cron] as const;

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
 * are rejected. Services: `promote`, `rescue`, `rings`, `fold`, `runtimes`, `cron`.
 */
export type MaintenanceOptions =
  & {
    /** Leader election and the leader's lock check. */
    leader?: LeaderOptions;
  }
  & { [S in Service as S["name"]]?: OptionsOf<S> | false };

/** Counters of what maintenance did, for stats and tests: leadership, then every service's. */
export type MaintenanceStats = LeaderStats & Intersection<StatsOf<Service>>;

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
