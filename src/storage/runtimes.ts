/**
 * Runtime instances: each client lists itself in `runtime_instances` while it runs (the
 * heartbeat refreshes the row, see `recordHeartbeat`) and removes itself at shutdown.
 * @module
 */
import type { Store } from "./store.ts";

/** What a runtime says about itself. */
export interface RuntimeInstance {
  instanceId: string;
  hostname: string;
  pid: number;
  /** The @awa/awa version the runtime runs. */
  version: string;
  /** Heartbeat interval, in ms. */
  snapshotIntervalMs: number;
  /** Queue configs by name, as JSON. */
  queues: Record<string, unknown>;
}

const REGISTER_RUNTIME_SQL = `INSERT INTO {{schema}}.runtime_instances (instance_id, hostname,
  pid, version, snapshot_interval_ms, queues)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)
ON CONFLICT (instance_id) DO NOTHING`;

/** List a runtime (again, if the leader took it for dead); a listed one is left as it is. */
export async function registerRuntime(store: Store, rt: RuntimeInstance): Promise<void> {
  await store.run("registerRuntime", REGISTER_RUNTIME_SQL, [
    rt.instanceId,
    rt.hostname,
    rt.pid,
    rt.version,
    rt.snapshotIntervalMs,
    JSON.stringify(rt.queues),
  ]);
}

/** Remove a runtime's row at shutdown. */
export async function deregisterRuntime(store: Store, instanceId: string): Promise<void> {
  await store.run(
    "deregisterRuntime",
    "DELETE FROM {{schema}}.runtime_instances WHERE instance_id = $1",
    [instanceId],
  );
}
