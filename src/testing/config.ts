/**
 * A fast client configuration for tests: short polls and heartbeats, and maintenance that
 * elects a leader and promotes due jobs within a fraction of a second.
 * @module
 */
import { ValidationError } from "../errors.ts";
import type { MaintenanceOptions } from "../maintenance/registry.ts";
import type { ClientOptions } from "../runtime/client.ts";
import type { HeartbeatOptions, QueueConfig } from "../runtime/types.ts";
import { describe } from "../validate.ts";

/** Fallback poll of each queue in tests, in ms (notifications usually wake a queue first). */
export const TEST_POLL_INTERVAL_MS = 50;

/**
 * Maintenance for tests: a leader within 100 ms, due jobs promoted every 50 ms, rescue checks
 * every 200 ms. Rotation stays at 1 s so a finished job stays readable in `awa.jobs` for a while.
 */
export const TEST_MAINTENANCE: Readonly<MaintenanceOptions> = Object.freeze({
  leader: { electionRetryMs: 100, pingMs: 100 },
  promote: { intervalMs: 50 },
  rescue: { intervalMs: 200 },
  rings: { intervalMs: 1000 },
});

/** Heartbeat for tests: every 200 ms; an attempt silent for 600 ms is rescued. */
export const TEST_HEARTBEAT: Readonly<Required<HeartbeatOptions>> = Object.freeze({
  intervalMs: 200,
  stalenessMs: 600,
});

function mergeMaintenance(given: ClientOptions["maintenance"]): ClientOptions["maintenance"] {
  if (given === false) return false;
  if (given === undefined || given === true) return { ...TEST_MAINTENANCE };
  const out: Record<string, unknown> = { ...TEST_MAINTENANCE };
  for (const [name, value] of Object.entries(given)) {
    const base = out[name];
    out[name] = typeof value === "object" && value !== null && typeof base === "object"
      ? { ...base, ...value }
      : value;
  }
  return out as MaintenanceOptions;
}

/**
 * `options` with test timings wherever it leaves them out: every queue polls every
 * {@link TEST_POLL_INTERVAL_MS}, the heartbeat is {@link TEST_HEARTBEAT} and maintenance
 * {@link TEST_MAINTENANCE} (merged per service with what `options.maintenance` sets). Settings
 * `options` gives win. Use the same heartbeat for every client of a test database.
 *
 * ```ts
 * const client = new Client(sql, testClientOptions({ queues: { email: {} } }));
 * ```
 */
export function testClientOptions(options: ClientOptions): ClientOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ValidationError("options", `must be client options, got ${describe(options)}`);
  }
  const queues = options.queues;
  if (typeof queues !== "object" || queues === null || Array.isArray(queues)) {
    throw new ValidationError("options.queues", `must be an object, got ${describe(queues)}`);
  }
  const fastQueues: Record<string, QueueConfig> = {};
  for (const [name, config] of Object.entries(queues)) {
    fastQueues[name] = typeof config === "object" && config !== null
      ? { pollIntervalMs: TEST_POLL_INTERVAL_MS, ...config }
      : config;
  }
  return {
    ...options,
    queues: fastQueues,
    heartbeat: { ...TEST_HEARTBEAT, ...options.heartbeat },
    maintenance: mergeMaintenance(options.maintenance),
  };
}
