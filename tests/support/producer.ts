/**
 * Helpers shared by the producer and SQL-contract tests. Not a test file itself.
 */
import type { Sql } from "./db.ts";

/** A promise with its resolve function exposed. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Backend pid of a single-connection pool. */
export async function backendPid(sql: Sql): Promise<number> {
  const [{ pid }] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  return pid;
}

/** Description of the lock the last observed waiter was waiting for (for failure messages). */
export let lastLockWait = "";

/**
 * Resolves once backend `pid` is waiting for a lock held by one of the backends `blockedBy`, as
 * reported by `pg_locks` and `pg_blocking_pids` (unrelated transient waits do not count). Polls the catalog; never decides by elapsed time. Stops when
 * `stop` resolves.
 */
export async function lockWaitObserved(
  observer: Sql,
  pid: number,
  stop: Promise<unknown>,
  blockedBy: number[],
): Promise<"waiting" | "stopped"> {
  let stopped = false;
  stop.then(() => stopped = true, () => stopped = true);
  while (!stopped) {
    const rows = await observer<{ lock: string }[]>`
      SELECT concat_ws(' ', locktype, mode, relation::regclass::text, classid, objid, objsubid,
        transactionid::text) AS lock
      FROM pg_locks WHERE pid = ${pid} AND NOT granted
        AND pg_blocking_pids(${pid}) && ${blockedBy}::int[]`;
    if (rows.length > 0) {
      lastLockWait = rows.map((r) => r.lock).join("; ");
      return "waiting";
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return "stopped";
}

/** Row counts of every table a producer writes. */
export async function writtenRows(sql: Sql, schema = "awa"): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ["ready_entries", "deferred_jobs", "job_unique_claims"]) {
    const [{ n }] = await sql.unsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ${schema}.${table}`,
    );
    out[table] = n;
  }
  return out;
}

/** Total jobs visible in the `awa.jobs` view. */
export async function jobCount(sql: Sql, where = "true", params: unknown[] = []): Promise<number> {
  const [{ n }] = await sql.unsafe<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM awa.jobs WHERE ${where}`,
    params as never[],
  );
  return n;
}

export { POOL_TEST } from "./db.ts";
