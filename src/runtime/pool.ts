/**
 * Options of the pools the runtime opens itself: the pool of `new Client(url)` and the
 * one-connection sessions beside any client's pool.
 * @module
 */
import postgres, { type Sql } from "postgres";
import { withNoDelay } from "../db/socket.ts";

/**
 * postgres.js options for a runtime pool of `max` connections: {@link withNoDelay}
 * (TCP_NODELAY, capped reconnect backoff), no notices, and no array type lookup. The runtime's
 * queries exchange arrays as JSON, and the lookup runs unguarded on each new connection: under
 * a short `statement_timeout` it fails as an unhandled rejection that kills the process.
 */
export function runtimePoolOptions(max: number): Record<string, unknown> {
  return withNoDelay({
    max,
    onnotice: () => {},
    fetch_types: false,
  });
}

/**
 * Reconnect delay of a session after its n-th failed connect, in seconds: doubling from 50 ms
 * up to 1 s (postgres.js's default grows to 20 s), so that work on it resumes soon after an
 * outage; its callers have their own backoff.
 */
export const SESSION_RECONNECT_BACKOFF = (n: number): number => Math.min(0.05 * 2 ** n, 1);

/**
 * Open a one-connection pool beside the client's: from the client's URL, or from a given
 * pool's parsed options (the way postgres.js builds its LISTEN connection). Not a connection
 * reserved from the pool: postgres.js crashes the process (uncaught TypeError, write on a null
 * socket) when a query is sent on a reserved connection that has closed, and a `reserve()`
 * that fails to connect leaks a pool slot; a pool of its own reconnects by itself. `keepOpen`
 * lifts the idle and lifetime limits (a session whose close gives up a lock).
 */
export function openSession(db: string | Sql, keepOpen = false): Sql {
  const limits = keepOpen ? { idle_timeout: null, max_lifetime: null } : {};
  if (typeof db === "string") {
    return postgres(db, {
      ...runtimePoolOptions(1),
      ...limits,
      backoff: SESSION_RECONNECT_BACKOFF,
    } as postgres.Options<Record<string, postgres.PostgresType>>);
  }
  // Its own reconnect counter: the pool's failed connects must not slow its backoff.
  return postgres({
    ...db.options,
    max: 1,
    ...limits,
    fetch_types: false,
    backoff: SESSION_RECONNECT_BACKOFF,
    onnotice() {},
    shared: { retries: 0, typeArrayMap: {} },
  } as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
}
