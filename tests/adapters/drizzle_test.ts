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

adapterContract({
  name: "drizzle node-postgres",
  t,
  db: () => fromDrizzle(pgDb),
  inTransaction: (fn) => pgDb.transaction((tx) => fn(fromDrizzle(tx))),
  statements: () => pgStatements,
});

adapterContract({
  name: "drizzle postgres.js",
  t,
  db: () => fromDrizzle(postgresJsDb),
  inTransaction: (fn) => postgresJsDb.transaction((tx) => fn(fromDrizzle(tx))),
  statements: () => postgresJsStatements,
}, async () => {
  await pool.end();
  await client.end();
  await t.close();
});
