/**
 * One small interface over the drivers Awa accepts: a postgres.js `Sql` or transaction, or a
 * node-postgres client / pool client wrapped by {@link fromPg}.
 * @module
 */
import type { Sql, TransactionSql } from "postgres";

/** Minimal shape of a node-postgres `Client` or `PoolClient` that Awa needs. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** A node-postgres connection wrapped for Awa; create it with {@link fromPg}. */
export interface PgExecutor {
  readonly kind: "pg";
  readonly client: PgQueryable;
  /** True when the wrapped client is inside a transaction the caller manages. */
  readonly inTransaction: boolean;
}

/**
 * Wrap a node-postgres client for Awa's producer functions. Pass `{ inTransaction: true }` when
 * the client is inside your own `BEGIN`; the job then commits or rolls back with your
 * transaction. Otherwise multi-statement operations run in a transaction of their own.
 */
export function fromPg(client: PgQueryable, options: { inTransaction?: boolean } = {}): PgExecutor {
  if (!client || typeof client.query !== "function") {
    throw new TypeError("fromPg: expected a node-postgres Client or PoolClient");
  }
  return { kind: "pg", client, inTransaction: options.inTransaction ?? false };
}

/** Anything Awa accepts as a database handle. */
export type Db = Sql | TransactionSql | PgExecutor;

/** Internal uniform executor. */
export interface Executor {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Run `fn` atomically: in the caller's transaction if there is one, else in a new one. */
  atomic<T>(fn: (ex: Executor) => Promise<T>): Promise<T>;
  /** Stream text-format COPY rows; undefined when the driver cannot COPY. */
  copyIn?: (statement: string, lines: Iterable<string>) => Promise<void>;
}

function isPgExecutor(db: unknown): db is PgExecutor {
  return typeof db === "object" && db !== null && (db as PgExecutor).kind === "pg";
}

function isPostgresJs(db: unknown): db is Sql | TransactionSql {
  return typeof db === "function" && typeof (db as Sql).unsafe === "function";
}

function postgresJsExecutor(sql: Sql | TransactionSql, inTx: boolean): Executor {
  const ex: Executor = {
    query: async <T>(text: string, params: unknown[] = []) =>
      (await sql.unsafe(text, params as never[])) as unknown as T[],
    atomic: (fn) =>
      inTx ? fn(ex) : (sql as Sql).begin((tx) => fn(postgresJsExecutor(tx, true))) as never,
    copyIn: async (statement, lines) => {
      const stream = await sql.unsafe(statement).writable();
      const done = new Promise<void>((resolve, reject) => {
        stream.on("finish", resolve);
        stream.on("error", reject);
      });
      let chunk = "";
      for (const line of lines) {
        chunk += line;
        if (chunk.length >= 1 << 16) {
          if (!stream.write(chunk)) await new Promise((r) => stream.once("drain", r));
          chunk = "";
        }
      }
      stream.end(chunk);
      await done;
    },
  };
  return ex;
}

function pgExecutor(client: PgQueryable, inTx: boolean): Executor {
  const ex: Executor = {
    query: async <T>(text: string, params: unknown[] = []) =>
      (await client.query(text, params)).rows as T[],
    atomic: async (fn) => {
      if (inTx) return await fn(ex);
      await client.query("BEGIN");
      try {
        const out = await fn(pgExecutor(client, true));
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK");
        throw err;
      }
    },
  };
  return ex;
}

/** Resolve a public database handle into an executor; throws TypeError for anything else. */
export function toExecutor(db: Db): Executor {
  if (isPgExecutor(db)) return pgExecutor(db.client, db.inTransaction);
  if (isPostgresJs(db)) {
    const inTx = typeof (db as TransactionSql).savepoint === "function";
    return postgresJsExecutor(db, inTx);
  }
  throw new TypeError(
    "expected a postgres.js Sql or transaction, or a node-postgres client wrapped with fromPg()",
  );
}

/** Postgres error fields Awa maps to typed errors (postgres.js and pg name them differently). */
export function pgErrorInfo(err: unknown): { code?: string; constraint?: string; message: string } {
  const e = err as {
    code?: string;
    constraint_name?: string;
    constraint?: string;
    message?: string;
  };
  return {
    code: typeof e?.code === "string" ? e.code : undefined,
    constraint: e?.constraint_name ?? e?.constraint,
    message: String(e?.message ?? err),
  };
}
