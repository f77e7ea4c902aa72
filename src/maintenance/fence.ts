/**
 * Fencing of maintenance leadership.
 *
 * Leadership is a session advisory lock (the leader lock) held on one connection; its holder's
 * backend is identified by pid and start time (a *term*). The lock alone cannot stop a deposed
 * leader: when its lock connection dies, it only learns so at its next check, and meanwhile
 * another process may take the lock. So every maintenance statement runs in a transaction of
 * its own that first takes a second advisory lock, the fence, in shared mode and then proves
 * that the term's backend still holds the leader lock. A newly elected leader takes the fence
 * exclusively once before its first statement: that waits for every statement of an earlier
 * leader still in flight, and every later statement of an earlier leader finds the leader lock
 * held by someone else and does nothing. So no maintenance statement of two leaders ever runs
 * at the same time.
 * @module
 */
import type { Sql, TransactionSql } from "postgres";

/** Session advisory lock key of the leader in schema `awa`: ASCII "AWA_MAIN". */
export const LEADER_LOCK_KEY = "4708303813012965710";

/** The default schema uses the documented key; other schemas derive their own. */
const LOCK_KEY_SQL =
  "CASE WHEN $2::text = 'awa' THEN $1::bigint ELSE hashtextextended('awa-leader:' || $2, 0) END";

/** Fence key of the schema $2. */
const FENCE_KEY_SQL = "hashtextextended('awa-leader-fence:' || $2, 0)";

/** Backend start as microseconds since the epoch: exact, and free of session date settings. */
const STARTED_SQL = "(extract(epoch FROM backend_start) * 1000000)::bigint::text";

/** One tenure of the leader lock: the backend that holds it and the lock's key. */
export interface Term {
  pid: number;
  /** Backend start of `pid` (µs since the epoch), so a reused pid never passes for it. */
  started: string;
  /** The leader lock key, as a decimal bigint. */
  key: string;
  /** The fence key, as a decimal bigint. */
  fence: string;
}

/** Raised by a fenced statement when this process no longer holds the leader lock. */
export class LeadershipLost extends Error {
  constructor(term: Term | null) {
    super(
      term
        ? `leader lock connection (backend ${term.pid}) no longer holds the leader lock`
        : "not the maintenance leader",
    );
    this.name = "LeadershipLost";
  }
}

/**
 * Try to take the leader lock on the session of `sql` (one statement). Returns the term when
 * taken, null when another session holds it.
 */
export async function tryLeaderLock(sql: Sql, schema: string): Promise<Term | null> {
  const [r] = await sql.unsafe(
    `SELECT pg_try_advisory_lock(k.key) AS ok, k.key::text AS key, (${FENCE_KEY_SQL})::text AS fence,
      pg_backend_pid() AS pid,
      (SELECT ${STARTED_SQL} FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS started
    FROM (SELECT ${LOCK_KEY_SQL} AS key) k`,
    [LEADER_LOCK_KEY, schema],
  );
  return r.ok ? { pid: r.pid, started: r.started, key: r.key, fence: r.fence } : null;
}

/**
 * Release the leader lock on the lock session `sql`, however often it was taken there (a
 * session lock taken twice needs two unlocks). The lock session holds no other advisory lock.
 */
export async function unlockLeaderLock(sql: Sql): Promise<void> {
  await sql.unsafe("SELECT pg_advisory_unlock_all()");
}

const LOST_MARK = "awa: leader lock lost";

const HOLDS_PREDICATE = `EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.pid = $1 AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = oid(($3::bigint >> 32) & 4294967295) AND l.objid = oid($3::bigint & 4294967295)
      AND (extract(epoch FROM a.backend_start) * 1000000)::bigint = $2::bigint
  )`;

const HOLDS_SQL = `SELECT ${HOLDS_PREDICATE} AS held`;

/**
 * In a transaction: abort it unless the backend of `term` holds the leader lock, with an
 * invalid-integer error naming the loss. Pipelined before a statement, the statement then
 * never runs for a deposed leader.
 */
const ASSERT_HOLDS_SQL =
  `SELECT (CASE WHEN ${HOLDS_PREDICATE} THEN '1' ELSE '${LOST_MARK}' END)::int AS held`;

function isLostMark(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "22P02" && typeof e.message === "string" && e.message.includes(LOST_MARK);
}

/** Whether the backend of `term` is alive and holds the leader lock (asked on any session). */
export async function holdsLeaderLock(sql: Sql | TransactionSql, term: Term): Promise<boolean> {
  const [{ held }] = await sql.unsafe(HOLDS_SQL, [term.pid, term.started, term.key]);
  return held;
}

/**
 * Wait until no statement of an earlier leader is in flight: take the fence exclusively for
 * one statement. Polls without queueing so that `cancelled` can end the wait.
 */
export async function passFence(
  sql: Sql,
  term: Term,
  cancelled: () => boolean,
): Promise<boolean> {
  for (let pause = 5; !cancelled(); pause = Math.min(pause * 2, 200)) {
    const [{ ok }] = await sql.unsafe("SELECT pg_try_advisory_xact_lock($1::bigint) AS ok", [
      term.fence,
    ]);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, pause));
  }
  return false;
}

type Statement<T> = (tx: TransactionSql) => Promise<T>;
/** Wraps a transaction or savepoint callback against writes on a closed connection. */
type Guard = <R>(fn: Statement<R>) => Statement<R>;

/**
 * Run one statement in its own transaction, after proving `term()` leads.
 *
 * postgres.js answers a failed transaction callback with ROLLBACK even when the failure was
 * the connection closing, and a write on a closed connection crashes the process (uncaught
 * TypeError in its write timer). So a failing callback first gives a close one turn of the
 * event loop to show (postgres.js then rejects the transaction itself); if it did, the
 * callback never settles and nothing more is sent on the dead connection.
 */
export async function fenced<T>(
  sql: Sql,
  term: () => Term | null,
  stmt: (tx: TransactionSql, guard: Guard) => Promise<T>,
): Promise<T> {
  const t = term();
  if (!t) throw new LeadershipLost(null);
  let gone = false;
  const guard: Guard = (fn) => async (tx) => {
    try {
      return await fn(tx);
    } catch (err) {
      await new Promise((r) => setTimeout(r, 0));
      if (gone) await new Promise(() => {});
      throw err;
    }
  };
  const done = sql.begin(guard(async (tx) => {
    // One round trip: the fence, then the check, which aborts the transaction for a deposed
    // leader so that the statement after it never runs.
    const [, , result] = await Promise.all([
      tx.unsafe("SELECT pg_advisory_xact_lock_shared($1::bigint)", [t.fence]),
      tx.unsafe(ASSERT_HOLDS_SQL, [t.pid, t.started, t.key]),
      stmt(tx, guard),
    ]).catch((err) => {
      throw isLostMark(err) ? new LeadershipLost(t) : err;
    });
    return result;
  }));
  // While the callback is pending, only a closed connection settles the transaction.
  done.catch(() => gone = true);
  return await done as T;
}

/**
 * A view of `sql` whose statements (tagged templates, `unsafe`, `begin`) each run fenced for
 * the current term; results arrive only after the statement's transaction committed. Other
 * members (helpers such as `json`, `options`) are those of `sql`.
 */
export function fencedSql(sql: Sql, term: () => Term | null): Sql {
  return new Proxy(sql, {
    apply(target, _this, args: unknown[]) {
      const [strings, ...rest] = args as [TemplateStringsArray, ...never[]];
      if (!Array.isArray(strings?.raw)) return Reflect.apply(target, target, args);
      return fenced(target, term, (tx) => tx(strings, ...rest));
    },
    get(target, prop, receiver) {
      if (prop === "unsafe") {
        return (query: string, params?: never[], options?: never) =>
          fenced(target, term, (tx) => tx.unsafe(query, params, options));
      }
      if (prop === "begin") {
        return (a: unknown, b?: unknown) => {
          const fn = (typeof a === "function" ? a : b) as Statement<unknown>;
          return fenced(target, term, (tx, guard) => tx.savepoint(guard(fn)));
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}
