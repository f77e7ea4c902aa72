/**
 * Drizzle on both of its Postgres drivers: node-postgres (multi-row INSERT) and postgres.js
 * (Awa takes the postgres.js handle underneath and COPYs); a database and a transaction.
 */
import assert from "node:assert/strict";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzlePostgresJs } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { fromDrizzle } from "../../adapters.ts";
import { POOL_TEST, testDatabase } from "../support/db.ts";
import { adapterContract } from "./contract.ts";

const t = await testDatabase("adapter_drizzle");

let pgStatements = 0;
const pool = new pg.Pool({ connectionString: t.url, max: 4 });
const pgDb = drizzlePg(pool, {
  logger: {
    logQuery: () => {
      pgStatements++;
    },
  },
});

// postgres.js has no per-statement hook; its debug option sees every statement it sends.
let postgresJsStatements = 0;
const client = postgres(t.url, {
  max: 4,
  onnotice: () => {},
  debug: () => {
    postgresJsStatements++;
  },
});
const postgresJsDb = drizzlePostgresJs(client);

class Rollback extends Error {}

function rollingBack(
  begin: (fn: (tx: unknown) => Promise<void>) => Promise<void>,
  commit: boolean,
  fn: (tx: ReturnType<typeof fromDrizzle>) => Promise<void>,
): Promise<void> {
  return begin(async (tx) => {
    await fn(fromDrizzle(tx as Parameters<typeof fromDrizzle>[0]));
    if (!commit) throw new Rollback("roll back");
  }).catch((err) => {
    throw err instanceof Rollback ? new Error("roll back") : err;
  });
}

adapterContract({
  name: "drizzle node-postgres",
  t,
  db: () => fromDrizzle(pgDb),
  inTransaction: (commit, fn) => rollingBack((f) => pgDb.transaction(f), commit, fn),
  statements: () => pgStatements,
});

adapterContract({
  name: "drizzle postgres.js",
  t,
  db: () => fromDrizzle(postgresJsDb),
  inTransaction: (commit, fn) => rollingBack((f) => postgresJsDb.transaction(f), commit, fn),
  statements: () => postgresJsStatements,
});

Deno.test({
  name: "drizzle postgres.js: Awa uses the postgres.js pool and transaction underneath (COPY)",
  ...POOL_TEST,
  async fn() {
    assert.equal(fromDrizzle(postgresJsDb), client);
    await postgresJsDb.transaction(async (tx) => {
      const inner = fromDrizzle(tx) as unknown as { savepoint?: unknown; unsafe?: unknown };
      assert.equal(typeof inner.savepoint, "function", "the transaction's own postgres.js handle");
      assert.equal(typeof inner.unsafe, "function");
      await tx.execute("SELECT 1");
    });
    const adapted = fromDrizzle(pgDb) as { kind?: string };
    assert.equal(adapted.kind, "adapted", "node-postgres goes through Drizzle's execute");
  },
});

Deno.test({
  name: "close drizzle database",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await pool.end();
    await client.end();
    await t.close();
  },
});
