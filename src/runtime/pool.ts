/**
 * Options of the pools the runtime opens itself (`new Client(url)`).
 * @module
 */
import { withNoDelay } from "../socket.ts";

/**
 * Wait before postgres.js reconnects after `retries` failed connections in a row, in seconds:
 * doubling from 50 ms, capped at 1 s, with jitter. postgres.js's default grows to 20 s, which
 * keeps a pool away for that long after the server is back.
 */
export function reconnectDelayS(retries: number): number {
  return Math.min(1, 0.05 * 2 ** Math.min(retries, 10)) * (0.5 + Math.random() / 2);
}

/**
 * postgres.js options for a runtime pool of `max` connections: TCP_NODELAY, capped reconnect
 * backoff, no notices, and no array type lookup. The runtime's queries exchange arrays as JSON,
 * and the lookup runs unguarded on each new connection: under a short `statement_timeout` it
 * fails as an unhandled rejection that kills the process.
 */
export function runtimePoolOptions(max: number): Record<string, unknown> {
  return withNoDelay({
    max,
    onnotice: () => {},
    fetch_types: false,
    backoff: reconnectDelayS,
  });
}
