/**
 * A postgres.js `socket` factory that turns Nagle's algorithm off.
 *
 * postgres.js sends the end of a COPY (CopyDone) as its own small write; with Nagle on, that
 * write waits for the server's delayed ACK of the data before it, about 40 ms, twice per COPY.
 * node-postgres disables Nagle on its sockets; postgres.js leaves it on. Measured on loopback:
 * a one-row COPY transaction took 87 ms with the default socket and 1.3 ms with this one.
 *
 * The factory returns the socket while it is still connecting. postgres.js treats a socket it
 * gets from a factory as its own: it writes the startup message at once (the socket buffers it
 * until connected) and learns of a refused or dropped connection from the socket's `error` and
 * `close` events, exactly as with the sockets it opens itself. A factory that waits for the
 * connection and rejects instead leaves the pool's connection stuck in its connecting state.
 *
 * The socket also reports its `close` a little late. postgres.js drops its socket reference
 * on `close`, yet a transaction's own ROLLBACK or a released reserved connection may still
 * write to that connection right after the failure; the write then runs from a `setImmediate`
 * on a null socket and throws an uncaught TypeError that kills the process (postgres.js issue
 * 1208, on Node, Bun and Deno alike). Until `close` is reported such writes reach the
 * destroyed socket instead, and are failed with an `error` event postgres.js rejects them on.
 * @module
 */
import net from "node:net";

/** The connection settings postgres.js passes to a `socket` factory. */
export interface SocketTarget {
  /** Host names, one per configured host. */
  host: string[];
  /** Ports, one per host. */
  port: number[];
  /** Unix socket path, when one is configured. */
  path?: string;
}

/** How long `close` is held back after the socket closed, in ms. */
const CLOSE_GRACE_MS = 50;

function closedError(): Error {
  return Object.assign(new Error("connection closed"), { code: "CONNECTION_CLOSED" });
}

/**
 * Hold back `close` (see the module note). A close without an error is first reported as an
 * `error`, so queries still waiting fail while postgres.js keeps its socket; writes made after
 * that (a ROLLBACK, a query on a just-released connection) fail with a second `error` right
 * before `close`, which is reported after any write already scheduled has run.
 */
function reportCloseLate(s: net.Socket): void {
  let lateWrite = false;
  let errored = false;
  const write = s.write;
  s.write = function (this: net.Socket, ...args: Parameters<net.Socket["write"]>): boolean {
    if (s.destroyed) lateWrite = true;
    return write.apply(this, args);
  } as net.Socket["write"];
  const emit = s.emit as (this: net.Socket, event: string | symbol, ...args: unknown[]) => boolean;
  const fail = () => {
    if (s.listenerCount("error") > 0) emit.call(s, "error", closedError());
  };
  s.emit = function (this: net.Socket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "error") errored = true;
    if (event !== "close") return emit.call(this, event, ...args);
    if (!errored) fail();
    setTimeout(() =>
      setImmediate(() => {
        if (lateWrite) fail();
        emit.call(s, "close", ...args);
      }), CLOSE_GRACE_MS);
    return s.listenerCount("close") > 0;
  } as net.Socket["emit"];
}

/** Next host to try, per pool (postgres.js passes the same options object on every call). */
const nextHost = new WeakMap<SocketTarget, number>();

/**
 * Use as `postgres(url, { socket: noDelaySocket })`: connections open with TCP_NODELAY, which
 * keeps `insertMany` (COPY) free of ~80 ms delayed-ACK stalls. With several hosts, a refused
 * connection moves the next attempt to the next host. TLS still works (postgres.js wraps the
 * socket).
 */
export function noDelaySocket(target: SocketTarget): net.Socket {
  let s: net.Socket;
  if (target.path) {
    s = net.connect(target.path);
  } else {
    const n = Math.max(1, target.host.length);
    const i = (nextHost.get(target) ?? 0) % n;
    s = net.connect(target.port[i] ?? target.port[0], target.host[i]);
    let connected = false;
    s.once("connect", () => connected = true);
    s.once("error", () => {
      if (!connected) nextHost.set(target, (i + 1) % n);
    });
  }
  s.setNoDelay(true);
  reportCloseLate(s);
  return s;
}

/**
 * Wait before postgres.js reconnects after `retries` failed connections in a row, in seconds:
 * doubling from 50 ms, capped at 1 s, with jitter. postgres.js's own default grows to 20 s,
 * which keeps a pool away that long after the server is back.
 */
export function reconnectDelayS(retries: number): number {
  return Math.min(1, 0.05 * 2 ** Math.min(retries, 10)) * (0.5 + Math.random() / 2);
}

/**
 * Add {@link noDelaySocket} to postgres.js options (its type definitions do not declare the
 * `socket` option): `postgres(url, withNoDelay({ max: 10 }))`. Unless the options set
 * `backoff`, reconnects back off with {@link reconnectDelayS}.
 */
export function withNoDelay<T extends object>(options?: T): T {
  return { backoff: reconnectDelayS, ...(options ?? {}), socket: noDelaySocket } as T;
}
