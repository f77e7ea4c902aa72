/**
 * One small interface over the drivers Awa accepts: a postgres.js `Sql`, transaction or reserved
 * connection, or a node-postgres `Pool`, `Client` or `PoolClient` wrapped by {@link fromPg}.
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import { TransactionStateError, ValidationError } from "../errors.ts";
import { checkOptions, describe } from "../validate.ts";
import { isConnectionLoss } from "./classify.ts";
import { pgListenerOf } from "./pg_listener.ts";
import { type AdaptedDb, adaptedExecutor, isAdaptedDb } from "./adapted.ts";

/** Minimal shape of a node-postgres `Client` or `PoolClient` that Awa needs. */
export interface PgQueryable {
  /** Run one statement with `$1`-style parameters. */
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** A NOTIFY as node-postgres delivers it. */
export interface PgNotification {
  /** The channel notified. */
  channel: string;
  /** The payload, if any. */
  payload?: string;
}

/** A client checked out of a node-postgres `Pool`. */
export interface PgPoolClient extends PgQueryable {
  /** Return the client to its pool; with an error, the pool discards the connection. */
  release(err?: Error | boolean): void;
  /** Listen for the client's events (node-postgres' `EventEmitter` API). */
  on?(event: "error", listener: (err: Error) => void): unknown;
  /** Listen for the connection's end. */
  on?(event: "end", listener: () => void): unknown;
  /** Listen for NOTIFY messages. */
  on?(event: "notification", listener: (msg: PgNotification) => void): unknown;
  /** Stop listening for errors. */
  removeListener?(event: "error", listener: (err: Error) => void): unknown;
  /** Drop every listener of an event. */
  removeAllListeners?(event: "notification" | "end"): unknown;
}

/** Minimal shape of a node-postgres `Pool` that Awa needs. */
export interface PgPool extends PgQueryable {
  /** Check out a client; the caller releases it. */
  connect(): Promise<PgPoolClient>;
  /** Clients the pool holds, busy or idle. */
  readonly totalCount: number;
  /** Clients the pool holds idle. */
  readonly idleCount: number;
}

/** A node-postgres handle wrapped for Awa; create it with {@link fromPg}. */
export interface PgExecutor {
  /** Tells this wrapper from a postgres.js handle. */
  readonly kind: "pg";
  /** The wrapped `Client`, `PoolClient` or `Pool`. */
  readonly client: PgQueryable;
  /** The pool, when a `Pool` was wrapped: each atomic operation checks out its own client. */
  readonly pool: PgPool | null;
  /** True when the wrapped client is inside a transaction the caller manages. */
  readonly inTransaction: boolean;
  /** pg-copy-streams' `from`, when given: `insertMany` then streams with COPY. */
  readonly copyFrom: PgCopyFrom | null;
}

function isPgPool(h: object): h is PgPool {
  const p = h as Partial<PgPool> & { release?: unknown };
  return typeof p.connect === "function" && typeof p.release !== "function" &&
    typeof p.totalCount === "number" && typeof p.idleCount === "number";
}

/**
 * The writable COPY query pg-copy-streams' `from(statement)` returns; Awa submits it with
 * `client.query(stream)`.
 */
export interface PgCopyStream {
  /** Send a chunk; false when the socket wants a `drain` first. */
  write(chunk: string): boolean;
  /** Send the last chunk and finish the COPY. */
  end(chunk: string): unknown;
  /** Abandon the COPY (CopyFail): the server rolls it back. */
  destroy(err?: Error): unknown;
  /** `finish` once the server confirmed the COPY, `error` when it refused it. */
  on(event: "finish" | "error" | "drain", listener: (err?: Error) => void): unknown;
  /** One-shot listener, used for `drain`. */
  once(event: "drain", listener: () => void): unknown;
}

/** pg-copy-streams' `from`: `import { from } from "pg-copy-streams"`. */
export type PgCopyFrom = (statement: string) => PgCopyStream;

/** Options of {@link fromPg}. */
export interface FromPgOptions {
  /** The client is inside a transaction you manage (not allowed with a Pool). */
  inTransaction?: boolean;
  /**
   * pg-copy-streams' `from`, to make `insertMany` stream each batch with COPY instead of one
   * multi-row INSERT. Awa does not depend on pg-copy-streams; pass it if you have it.
   */
  copyFrom?: PgCopyFrom;
}

const FROM_PG_KEYS: ReadonlySet<string> = new Set(["inTransaction", "copyFrom"]);

/**
 * Wrap a node-postgres handle for Awa's producer functions and `migrate`.
 *
 * - A `Pool`: single statements go to `pool.query`; every multi-statement operation (insertMany,
 *   migrate) checks out one client with `pool.connect()`, runs `BEGIN`…`COMMIT` on it and
 *   releases it on every path (a client whose `ROLLBACK` failed is released with the error, so
 *   the pool discards it). `inTransaction` is not allowed with a pool.
 * - A `Client` or `PoolClient` with `{ inTransaction: true }`: you manage the transaction; jobs
 *   commit or roll back with it, and Awa sends no transaction control at all.
 * - A `Client` or `PoolClient` without it: a multi-statement operation first probes the session
 *   with `SAVEPOINT`. Outside a transaction that fails harmlessly (SQLSTATE 25P01) and the
 *   operation runs in a `BEGIN`…`COMMIT` of its own. Inside a transaction you opened, the
 *   operation runs within that savepoint and releases it: Awa never commits or ends a transaction
 *   it did not begin, and your `ROLLBACK` undoes the jobs too. A transaction already aborted by
 *   an earlier error gets a {@link TransactionStateError}.
 *
 * Throws {@link ValidationError} for anything that is not a node-postgres handle.
 */
export function fromPg(
  client: PgQueryable | PgPool,
  options: FromPgOptions = {},
): PgExecutor {
  if (
    typeof client !== "object" || client === null ||
    typeof (client as PgQueryable).query !== "function"
  ) {
    throw new ValidationError(
      "client",
      `fromPg expects a node-postgres Pool, Client or PoolClient, got ${describe(client)}`,
    );
  }
  const o = checkOptions<FromPgOptions>(options, "options", FROM_PG_KEYS);
  if (o.copyFrom !== undefined && typeof o.copyFrom !== "function") {
    throw new ValidationError(
      "options.copyFrom",
      `must be pg-copy-streams' from function, got ${describe(o.copyFrom)}`,
    );
  }
  if (o.inTransaction !== undefined && typeof o.inTransaction !== "boolean") {
    throw new ValidationError("options.inTransaction", "must be a boolean");
  }
  const pool = isPgPool(client) ? client : null;
  if (pool && o.inTransaction) {
    throw new ValidationError(
      "options.inTransaction",
      "a Pool is never inside your transaction; pass the client you ran BEGIN on",
    );
  }
  return Object.freeze({
    kind: "pg",
    client,
    pool,
    inTransaction: o.inTransaction ?? false,
    copyFrom: o.copyFrom ?? null,
  });
}

/**
 * Anything Awa accepts as a database handle: postgres.js, node-postgres through
 * {@link fromPg}, or another library's handle through `@awa/awa/adapters`.
 */
export type Db = Sql | TransactionSql | PgExecutor | AdaptedDb;

/** A LISTEN in place; see {@link Executor.listen}. */
export interface Listening {
  /** Stop delivering this listener's notices; the channel is UNLISTENed with its last one. */
  unlisten(): Promise<void>;
}

/** One session taken from a pool for the caller alone; see {@link Executor.reserve}. */
export interface ReservedExecutor extends Executor {
  /** Give the session back to its pool. Call exactly once. */
  release(): void;
}

/** Internal uniform executor. */
export interface Executor {
  /**
   * The handle this executor was made from, for per-handle caches. A postgres.js transaction is
   * its own handle (it lives as long as the transaction).
   */
  readonly identity: object;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * True when each statement is known to run as a transaction of its own (a postgres.js pool):
   * one statement is then atomic without {@link atomic}. Absent where session state is
   * unknown (a caller's transaction, a single client, an ORM handle).
   */
  readonly autocommit?: boolean;
  /** Run `fn` atomically: in the caller's transaction if there is one, else in a new one. */
  atomic<T>(fn: (ex: Executor) => Promise<T>): Promise<T>;
  /** Stream text-format COPY rows; undefined when the driver cannot COPY. */
  copyIn?: (statement: string, lines: Iterable<string>) => Promise<void>;
  /**
   * LISTEN on `channel` (used verbatim, quoted as an identifier) on the one listen connection
   * this pool keeps beside its others; resolves once the LISTEN is in effect. `onMessage` gets
   * each notice's payload. `onRelisten` runs each time the channel was listened again on a new
   * connection after the old one was lost: notices sent in between are gone. Undefined on a
   * transaction, a reserved connection and a single node-postgres client.
   */
  listen?: (
    channel: string,
    onMessage: (payload: string) => void,
    onRelisten?: () => void,
  ) => Promise<Listening>;
  /**
   * Take one session out of the pool for the caller alone (session state such as advisory
   * locks stays on it) until `release()`. Undefined where there is no pool to take it from.
   */
  reserve?: () => Promise<ReservedExecutor>;
}

function isPgExecutor(db: unknown): db is PgExecutor {
  return typeof db === "object" && db !== null && (db as PgExecutor).kind === "pg" &&
    typeof (db as PgExecutor).client?.query === "function";
}

function isPostgresJs(db: unknown): db is Sql | TransactionSql {
  // `typed` tells postgres.js from Bun's built-in SQL, which also has `unsafe`.
  return typeof db === "function" && typeof (db as Sql).unsafe === "function" &&
    typeof (db as Sql).typed === "function";
}

type Send = (text: string) => Promise<unknown>;

const PROBE = "awa_atomic";

/**
 * Atomic block on one session whose transaction state Awa does not know: a savepoint inside the
 * caller's transaction, else a transaction of its own.
 */
async function sessionAtomic<T>(send: Send, run: () => Promise<T>): Promise<T> {
  let inCallerTx: boolean;
  try {
    await send(`SAVEPOINT ${PROBE}`);
    inCallerTx = true;
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    if (code !== "25P01") {
      throw new TransactionStateError(
        `cannot start an atomic operation on this connection (${describe(code)}): ` +
          "its transaction is aborted or unusable; roll it back first",
        { cause: err },
      );
    }
    inCallerTx = false;
  }
  if (inCallerTx) {
    try {
      const out = await run();
      await send(`RELEASE SAVEPOINT ${PROBE}`);
      return out;
    } catch (err) {
      await send(`ROLLBACK TO SAVEPOINT ${PROBE}`).then(() => send(`RELEASE SAVEPOINT ${PROBE}`))
        .catch(() => {});
      throw err;
    }
  }
  await send("BEGIN");
  try {
    const out = await run();
    await send("COMMIT");
    return out;
  } catch (err) {
    await send("ROLLBACK").catch(() => {});
    throw err;
  }
}

/** The writable half of a postgres.js COPY query; see {@link postgresJsCopyIn}. */
interface CopyQuery extends Promise<unknown> {
  writable(): Promise<NodeJS.WritableStream & { destroy(err?: Error): void }>;
  reject: (err: unknown) => void;
}

/**
 * COPY FROM STDIN through postgres.js, rejecting on every failure. postgres.js 3.4 resolves the
 * query with the stream and then reports a server-side COPY error (bad data, a constraint) only
 * through the query's own reject, after the stream has finished — which nobody observes, so the
 * stream never emits `finish` nor `error`. Taking over that reject hook turns the server's error
 * into a rejection here; the server then answers ReadyForQuery and the connection is reusable.
 */
async function postgresJsCopyIn(
  sql: Sql | TransactionSql,
  statement: string,
  lines: Iterable<string>,
): Promise<void> {
  const query = sql.unsafe(statement) as unknown as CopyQuery;
  const stream = await query.writable();
  const done = new Promise<void>((resolve, reject) => {
    query.reject = reject;
    stream.on("finish", resolve);
    stream.on("error", reject);
  });
  await writeCopyLines(stream, done, lines);
}

/** The part of a COPY stream {@link writeCopyLines} writes to. */
interface CopySink {
  write(chunk: string): boolean;
  end(chunk: string): unknown;
  destroy(err?: Error): unknown;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * Write `lines` to a COPY stream in 64 KiB chunks, waiting on `drain`; `done` settles when the
 * server has confirmed or refused the COPY.
 */
async function writeCopyLines(
  stream: CopySink,
  done: Promise<void>,
  lines: Iterable<string>,
): Promise<void> {
  done.catch(() => {});
  let chunk = "";
  try {
    for (const line of lines) {
      chunk += line;
      if (chunk.length >= 1 << 16) {
        if (!stream.write(chunk)) {
          await Promise.race([new Promise<void>((r) => stream.once("drain", r)), done]);
        }
        chunk = "";
      }
    }
  } catch (err) {
    // Our own failure while building rows: CopyFail tells the server to abandon the COPY.
    stream.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
  stream.end(chunk);
  await done;
}

/** COPY FROM STDIN on a node-postgres client through pg-copy-streams' `from`. */
function pgCopyIn(
  client: PgQueryable,
  copyFrom: PgCopyFrom,
  statement: string,
  lines: Iterable<string>,
): Promise<void> {
  const stream = copyFrom(statement);
  const done = new Promise<void>((resolve, reject) => {
    stream.on("finish", () => resolve());
    stream.on("error", reject);
  });
  // node-postgres submits a query object that has submit(), which a pg-copy-streams stream is.
  (client as unknown as { query(q: PgCopyStream): unknown }).query(stream);
  return writeCopyLines(stream, done, lines);
}

/** A LISTEN through postgres.js's own listen connection (shared by all channels of `sql`). */
async function postgresJsListen(
  sql: Sql,
  channel: string,
  onMessage: (payload: string) => void,
  onRelisten?: () => void,
): Promise<Listening> {
  let listened = false;
  let stopped = false;
  const result = await sql.listen(
    channel,
    (payload) => {
      if (!stopped) onMessage(payload);
    },
    () => {
      if (stopped) return;
      // postgres.js calls this after the first LISTEN and again after every re-listen.
      if (listened) onRelisten?.();
      listened = true;
    },
  );
  return {
    unlisten: () => {
      // After a re-listen postgres.js holds a listener this unlisten no longer reaches; the
      // flag keeps that leftover silent.
      stopped = true;
      return result.unlisten();
    },
  };
}

/**
 * The rows of a postgres.js result, dense. postgres.js 3.4 counts the rows of a result on the
 * connection and resets the count only when a statement completes: a statement that fails after
 * sending some rows (a statement timeout or a division by zero mid-stream) leaves the count up,
 * and the next result on that connection starts with that many holes. The runtime would read
 * `undefined` rows (a claim that crashed a worker under a 10 ms statement_timeout); the holes
 * are dropped here, at the one place every postgres.js statement passes.
 */
function withoutHoles<R extends ArrayLike<unknown>>(rows: R): R {
  if (rows.length === 0 || 0 in rows) return rows;
  return Object.assign(Array.prototype.filter.call(rows, () => true), {
    count: (rows as { count?: unknown }).count,
    command: (rows as { command?: unknown }).command,
  }) as unknown as R;
}

/**
 * Statements with parameters run as named prepared statements. postgres.js sends an unnamed one
 * in two round trips (describe, then bind and execute); a named one is described once per
 * connection and then runs in one. Statement texts come from a fixed set (the admin job listing
 * varies only in which filters it has), so the per-connection cache stays small. A pool created
 * with `prepare: false` (pgbouncer in transaction mode) still gets unnamed statements:
 * postgres.js honours the pool's setting over this one.
 */
const NAMED = { prepare: true } as const;

function postgresJsExecutor(sql: Sql | TransactionSql): Executor {
  const inTx = typeof (sql as TransactionSql).savepoint === "function";
  const canBegin = typeof (sql as Sql).begin === "function";
  const pool = typeof (sql as Sql).listen === "function" ? sql as Sql : null;
  const ex: Executor = {
    identity: sql,
    autocommit: canBegin && !inTx,
    query: <T>(text: string, params: unknown[] = []) =>
      (params.length === 0 ? sql.unsafe(text) : sql.unsafe(text, params as never[], NAMED))
        .then(withoutHoles) as unknown as Promise<T[]>,
    atomic: (fn) => {
      if (inTx) return fn(ex);
      if (canBegin) return (sql as Sql).begin((tx) => fn(postgresJsExecutor(tx))) as never;
      // A reserved connection (sql.reserve()): one session, state unknown.
      return sessionAtomic((text) => sql.unsafe(text), () => fn(ex));
    },
    copyIn: (statement, lines) => postgresJsCopyIn(sql, statement, lines),
  };
  if (pool) {
    ex.listen = (channel, onMessage, onRelisten) =>
      postgresJsListen(pool, channel, onMessage, onRelisten);
    ex.reserve = async () => {
      const reserved = await pool.reserve();
      const inner = postgresJsExecutor(reserved);
      // postgres.js's release() puts the connection back among the open ones even when it has
      // closed meanwhile, and queries sent to it then hang for good (3.4.9). A connection that
      // failed at the connection level is left alone instead: postgres.js has already moved it
      // to its closed ones (or does when the close is reported), and reconnects it on demand.
      let dead = false;
      const watch = <T>(p: Promise<T>): Promise<T> =>
        p.catch((err) => {
          if (isConnectionLoss(err)) dead = true;
          throw err;
        });
      return {
        ...inner,
        query: (text, params) => watch(inner.query(text, params)),
        atomic: (fn) => watch(inner.atomic(fn)),
        release: () => {
          if (!dead) reserved.release();
        },
      };
    };
  }
  return ex;
}

function pgClientExecutor(
  client: PgQueryable,
  inTx: boolean,
  identity: object,
  copyFrom: PgCopyFrom | null,
): Executor {
  const ex: Executor = {
    identity,
    query: async <T>(text: string, params: unknown[] = []) =>
      (await client.query(text, params)).rows as T[],
    atomic: (fn) => {
      if (inTx) return fn(ex);
      const inner = pgClientExecutor(client, true, identity, copyFrom);
      return sessionAtomic((text) => client.query(text), () => fn(inner));
    },
  };
  if (copyFrom) ex.copyIn = (statement, lines) => pgCopyIn(client, copyFrom, statement, lines);
  return ex;
}

/**
 * Check out a client and watch it: a checked-out client that loses its connection emits
 * "error", and unobserved that event would crash the process (the failure also surfaces from
 * the pending query). `release` returns it, discarding it when it broke or `err` is given.
 */
async function checkOut(
  pool: PgPool,
): Promise<{ client: PgPoolClient; release: (err?: Error) => void }> {
  const client = await pool.connect();
  let broken: Error | null = null;
  const onError = (err: Error) => broken = err;
  client.on?.("error", onError);
  return {
    client,
    release: (err?: Error) => {
      client.removeListener?.("error", onError);
      client.release(err ?? broken ?? undefined);
    },
  };
}

function pgPoolExecutor(pool: PgPool, copyFrom: PgCopyFrom | null): Executor {
  return {
    identity: pool,
    query: async <T>(text: string, params: unknown[] = []) =>
      (await pool.query(text, params)).rows as T[],
    atomic: async (fn) => {
      const { client, release } = await checkOut(pool);
      try {
        await client.query("BEGIN");
        const out = await fn(pgClientExecutor(client, true, pool, copyFrom));
        await client.query("COMMIT");
        release();
        return out;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
          release();
        } catch (rollbackErr) {
          // The connection is broken or stuck: the pool must not hand it out again.
          release(rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr)));
        }
        throw err;
      }
    },
    listen: (channel, onMessage, onRelisten) =>
      pgListenerOf(pool).listen(channel, onMessage, onRelisten),
    reserve: async () => {
      const { client, release } = await checkOut(pool);
      let released = false;
      return {
        ...pgClientExecutor(client, false, client, copyFrom),
        release: () => {
          if (released) return;
          released = true;
          release();
        },
      };
    },
  };
}

/** Resolve a public database handle into an executor; throws ValidationError for anything else. */
export function toExecutor(db: Db): Executor {
  if (isPgExecutor(db)) {
    return db.pool
      ? pgPoolExecutor(db.pool, db.copyFrom ?? null)
      : pgClientExecutor(db.client, db.inTransaction, db.client, db.copyFrom ?? null);
  }
  if (isPostgresJs(db)) return postgresJsExecutor(db);
  if (isAdaptedDb(db)) return adaptedExecutor(db);
  if (typeof db === "function" && typeof (db as Sql).unsafe === "function") {
    throw new ValidationError(
      "db",
      "this looks like Bun's built-in SQL, which cannot COPY nor be told from postgres.js " +
        "otherwise: wrap it with fromBunSql() from @awa/awa/adapters",
    );
  }
  throw new ValidationError(
    "db",
    "expected a postgres.js Sql or transaction, a node-postgres handle wrapped with fromPg(), " +
      `or a handle wrapped by an adapter of @awa/awa/adapters, got ${describe(db)}`,
  );
}
