/**
 * Helpers of the maintenance service tests (tests/maintenance/): run one service's tick
 * directly against a test database, unfenced, with the options a client would resolve.
 */
import type { Sql } from "postgres";
import { toExecutor } from "../../src/db/executor.ts";
import type {
  ClientSettings,
  MaintenanceService,
  ServiceContext,
} from "../../src/maintenance/service.ts";
import type { ClientEvents } from "../../mod.ts";
import { storeOf } from "../../src/storage/store.ts";

/** Client settings of the tests: the heartbeat of tests/support/runtime.ts, no DLQ. */
export const SETTINGS: ClientSettings = {
  heartbeat: { intervalMs: 200, stalenessMs: 600 },
  dlqDefault: false,
};

/** An emitted event, as a tick context records it. */
export interface Emitted {
  event: keyof ClientEvents;
  payload: unknown;
}

/** A tick context on `sql` (schema `awa`), recording emitted events in `events`. */
export function tickContext(
  sql: Sql,
  events: Emitted[] = [],
  instanceId: string = crypto.randomUUID(),
): ServiceContext {
  return {
    store: storeOf(toExecutor(sql), "awa"),
    schema: "awa",
    instanceId,
    emit: (event, payload) => void events.push({ event, payload }),
  };
}

/**
 * A service with options resolved from `input` (as under `maintenance.<name>`) and fresh
 * counters; `tick()` runs it once in `ctx` and returns the counters.
 */
export function prepared<O, R extends { intervalMs: number }, S extends object>(
  service: MaintenanceService<string, O, R, S>,
  input: O | undefined,
  ctx: ServiceContext,
  settings: ClientSettings = SETTINGS,
): { options: R; stats: S; tick(): Promise<S> } {
  const options = service.resolve(input, `maintenance.${service.name}`, settings);
  const stats = service.newStats();
  return {
    options,
    stats,
    async tick() {
      await service.tick(ctx, options, stats);
      return stats;
    },
  };
}
