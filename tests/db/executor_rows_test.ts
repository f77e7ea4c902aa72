/**
 * A statement that fails after sending rows must not corrupt the next result on its connection.
 * postgres.js keeps counting rows across the failure, so the next result starts with holes; the
 * executor hands back dense rows (a worker once read `undefined` claim rows this way).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { toExecutor } from "../../src/db/executor.ts";
import { testDatabase } from "../support/db.ts";

const t = await testDatabase("executor_rows");

Deno.test("rows after a statement that failed mid-stream come back dense", async () => {
  // One connection, so the failed statement and the next one share it.
  const sql = postgres(t.url, { max: 1, onnotice: () => {} });
  try {
    const ex = toExecutor(sql);
    await assert.rejects(
      ex.query(
        "SELECT CASE WHEN g < 5 THEN g ELSE 1 / (g - g) END AS v FROM generate_series(1, 10) g",
      ),
      /division by zero/,
    );
    const rows = await ex.query<{ x: number }>("SELECT 1 AS x UNION ALL SELECT 2");
    assert.deepEqual([...rows], [{ x: 1 }, { x: 2 }]);
    assert.equal(rows.length, 2);
    // The driver itself still shows the defect: the guard is needed.
    await sql.unsafe(
      "SELECT CASE WHEN g < 3 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 5) g",
    )
      .catch(() => {});
    const raw = await sql.unsafe("SELECT 1 AS x");
    assert.equal(0 in raw, false, "postgres.js left holes; if this fails the guard can go");
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test({
  name: "close executor_rows database",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => t.close(),
});
