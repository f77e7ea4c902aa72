/**
 * Statements with parameters run as named prepared statements on postgres.js (one round trip
 * instead of describe-then-execute), unless the pool was created with `prepare: false`, as
 * pgbouncer in transaction mode needs. A prepared statement must survive the DDL a migration
 * runs while workers are up.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { toExecutor } from "../../src/db/executor.ts";
import { testDatabase } from "../support/db.ts";

const t = await testDatabase("executor_prepared");
const TEXT = "SELECT $1::int + 1 AS v";

async function preparedCopies(sql: postgres.Sql, text: string): Promise<number> {
  const [{ n }] = await sql.unsafe(
    "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1",
    [text],
    { prepare: false },
  );
  return n;
}

Deno.test("a statement with parameters is prepared once per connection and reused", async () => {
  // One connection, so every run and the catalog read share it.
  const sql = postgres(t.url, { max: 1, onnotice: () => {} });
  try {
    const ex = toExecutor(sql);
    for (let i = 0; i < 3; i++) {
      const rows = await ex.query<{ v: number }>(TEXT, [i]);
      assert.deepEqual([...rows], [{ v: i + 1 }]);
    }
    assert.equal(await preparedCopies(sql, TEXT), 1);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("a pool created with prepare: false gets no prepared statements", async () => {
  const sql = postgres(t.url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    const ex = toExecutor(sql);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual([...await ex.query<{ v: number }>(TEXT, [i])], [{ v: i + 1 }]);
    }
    assert.equal(await preparedCopies(sql, TEXT), 0);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("a prepared statement still runs after DDL changed its result type", async () => {
  const sql = postgres(t.url, { max: 1, onnotice: () => {} });
  try {
    const ex = toExecutor(sql);
    await ex.query("DROP TABLE IF EXISTS prepared_ddl; CREATE TABLE prepared_ddl (id int)");
    await ex.query("INSERT INTO prepared_ddl VALUES (1)");
    const text = "SELECT * FROM prepared_ddl WHERE id = $1";
    assert.deepEqual([...await ex.query(text, [1])], [{ id: 1 }]);
    await ex.query("ALTER TABLE prepared_ddl ADD COLUMN note text DEFAULT 'x'");
    assert.deepEqual([...await ex.query(text, [1])], [{ id: 1, note: "x" }]);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test({
  name: "close executor_prepared database",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => t.close(),
});
