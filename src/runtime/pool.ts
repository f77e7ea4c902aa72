/**
 * Options of the pools the runtime opens itself (`new Client(url)`).
 * @module
 */
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
