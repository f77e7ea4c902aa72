/**
 * Per-test-file databases. Each file calls `testDatabase()` once and gets a fresh database on
 * the shared server (DATABASE_URL, set by `deno task test`), so files can run in parallel.
 * Running a file directly with `deno test` and no DATABASE_URL starts an embedded server.
 */
import postgres from "postgres";
import process from "node:process";
import { migrate, withNoDelay } from "../../mod.ts";
import { startEmbeddedPostgres } from "../../dev/embedded_postgres.ts";

export type Sql = postgres.Sql;

/**
 * Sanitizer settings for tests on a pool shared by a whole file: postgres.js keeps its sockets
 * and timers between tests. Tests whose client owns its pool leave the sanitizers on.
 */
export const POOL_TEST = { sanitizeOps: false, sanitizeResources: false } as const;

export interface TestDatabase {
  /** URL of the fresh database. */
  url: string;
  /** A pool on it (max 10); Awa migrated into schema `awa`. */
  sql: Sql;
  /** Open another pool on the same database. */
  connect(options?: postgres.Options<Record<string, postgres.PostgresType>>): Sql;
  /** Drop the database and stop anything this helper started. */
  close(): Promise<void>;
}

let counter = 0;

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = "/" + db;
  return u.toString();
}

/** Create a fresh, migrated database for one test file. */
export async function testDatabase(name: string): Promise<TestDatabase> {
  let serverUrl = process.env.DATABASE_URL;
  let stopServer: (() => Promise<void>) | undefined;
  if (!serverUrl) {
    const server = await startEmbeddedPostgres();
    serverUrl = server.url;
    stopServer = server.stop;
  }
  const db = `awa_t_${name.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${process.pid}_${counter++}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${db}`);
  await admin.unsafe(`CREATE DATABASE ${db}`);
  await admin.end();
  const url = withDatabase(serverUrl, db);
  const pools: Sql[] = [];
  const connect: TestDatabase["connect"] = (options = {}) => {
    const s = postgres(url, withNoDelay({ max: 10, onnotice: () => {}, ...options }));
    pools.push(s);
    return s;
  };
  const sql = connect();
  await migrate(sql);
  return {
    url,
    sql,
    connect,
    async close() {
      await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
      const a = postgres(serverUrl!, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await a.end();
      if (stopServer) await stopServer();
    },
  };
}
