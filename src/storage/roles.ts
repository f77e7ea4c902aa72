/**
 * Least-privilege access levels (`grant_access`): producer, observer, operator, worker.
 * @module
 */
import type { Store } from "./store.ts";

/** Grant access level `level` on the schema to the existing role `role`. */
export async function grantAccess(store: Store, role: string, level: string): Promise<void> {
  await store.run("grantAccess", "SELECT {{schema}}.grant_access($1, $2)", [role, level]);
}
