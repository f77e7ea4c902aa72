/**
 * Least-privilege roles: {@link grantAccess} gives existing database roles one of four access
 * levels on an Awa schema (docs/operations.md).
 * @module
 */
import type { Db } from "../db/executor.ts";
import { ValidationError } from "../errors.ts";
import { grantAccess as grantLevel } from "../storage/roles.ts";
import { checkOptions, describe } from "../validate.ts";
import { adminCall } from "./call.ts";
import { type AdminOptions, adminSchema } from "./queues.ts";

/**
 * Roles to grant each access level to (each an existing role name, or several):
 * - `producer`: enqueue through the SQL contract (`awa.insert_job`, which runs as the schema
 *   owner) and `insert()`; no table access at all.
 * - `observer`: read only: `queueStats`, `listRuntimes`, `storageStatus` and every list or get.
 * - `operator`: the admin layer (pause, resume, cancel, retry, …): rows, not TRUNCATE.
 * - `worker`: what a `Client` needs, its maintenance leader included.
 */
export interface AccessGrants {
  /** Roles that may only enqueue. */
  producer?: string | string[];
  /** Roles that may only read. */
  observer?: string | string[];
  /** Roles that run the admin layer. */
  operator?: string | string[];
  /** Roles that run Clients. */
  worker?: string | string[];
}

const LEVELS = ["producer", "observer", "operator", "worker"] as const;
const LEVEL_KEYS: ReadonlySet<string> = new Set(LEVELS);
const MAX_ROLE_BYTES = 63;
const encoder = new TextEncoder();

function checkRole(v: unknown, field: string): string {
  if (
    typeof v !== "string" || v.length === 0 || v.includes("\0") ||
    encoder.encode(v).length > MAX_ROLE_BYTES
  ) {
    throw new ValidationError(
      field,
      `must be a role name of 1-${MAX_ROLE_BYTES} bytes without NUL, got ${describe(v)}`,
    );
  }
  return v;
}

/**
 * Grant access levels to existing roles (create them first, e.g.
 * `CREATE ROLE app_producer LOGIN PASSWORD '…'`). Run it as the role that owns the schema (the
 * one that runs `migrate()`), after `migrate()`; it is idempotent, and also sets that owner's
 * default privileges so tables of later migrations are covered. Run it again after an upgrade
 * anyway: a release that re-creates `insert_job` drops the grants on it. Throws
 * `ValidationError` for no roles, an unknown level or a bad name (nothing granted), and
 * `DatabaseError` (SQLSTATE 42704) for a role that does not exist; all grants of one call
 * are one transaction.
 */
export async function grantAccess(
  db: Db,
  grants: AccessGrants,
  opts?: AdminOptions,
): Promise<void> {
  const g = checkOptions<AccessGrants>(grants, "grants", LEVEL_KEYS);
  if (grants === undefined) throw new ValidationError("grants", "must be an object");
  const schema = adminSchema(opts);
  const todo: [string, string][] = [];
  for (const level of LEVELS) {
    const v = g[level];
    if (v === undefined) continue;
    const roles = Array.isArray(v) ? v : [v];
    if (roles.length === 0) {
      throw new ValidationError(`grants.${level}`, "must name at least one role");
    }
    roles.forEach((r, i) =>
      todo.push([
        checkRole(r, Array.isArray(v) ? `grants.${level}[${i}]` : `grants.${level}`),
        level,
      ])
    );
  }
  if (todo.length === 0) {
    throw new ValidationError(
      "grants",
      "name at least one role under producer, observer, " +
        "operator or worker",
    );
  }
  await adminCall(db, schema, "grantAccess", (s) =>
    s.atomic("grantAccess", async (tx) => {
      for (const [role, level] of todo) await grantLevel(tx, role, level);
    }));
}
