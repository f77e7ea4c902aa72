/**
 * The fold service: a tick moves terminal count deltas into the rollups; while another session
 * pins the MVCC horizon (a writer idle in its transaction) it skips, and folds once it is gone.
 */
import assert from "node:assert/strict";
import { ValidationError } from "../../mod.ts";
import { fold } from "../../src/maintenance/fold.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, SETTINGS, tickContext } from "../support/maintenance.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("maintenance_fold");
const sql = t.sql;

async function rolledUp(queue: string): Promise<{ deltas: number; total: number }> {
  const [r] = await sql<{ deltas: number; total: number }[]>`
    SELECT (SELECT count(*) FROM awa.terminal_rollup_deltas WHERE queue = ${queue})::int AS deltas,
      (SELECT coalesce(sum(total), 0) FROM awa.terminal_rollups WHERE queue = ${queue})::int
        AS total`;
  return r;
}

Deno.test({
  name: "fold: a tick folds deltas into the rollup, and skips while the horizon is pinned",
  ...POOL_TEST,
  async fn() {
    await sql`INSERT INTO awa.terminal_rollup_deltas (queue, state, delta)
      VALUES ('fd', 'completed', 5), ('fd', 'completed', 2), ('fd', 'failed', 1)`;
    const f = prepared(fold, undefined, tickContext(sql));
    assert.equal(f.options.intervalMs, 30_000, "default interval");

    // A writer idle in its transaction pins the horizon.
    const writer = await sql.reserve();
    try {
      await writer`BEGIN`;
      await writer`SELECT txid_current()`;
      await f.tick();
      assert.deepEqual(f.stats, { folds: 0, foldsSkipped: 1 });
      assert.deepEqual(await rolledUp("fd"), { deltas: 3, total: 0 });
      await writer`ROLLBACK`;
    } finally {
      writer.release();
    }

    await f.tick();
    assert.deepEqual(f.stats, { folds: 1, foldsSkipped: 1 });
    assert.deepEqual(await rolledUp("fd"), { deltas: 0, total: 8 });
  },
});

Deno.test({
  name: "fold: intervalMs is an integer from 1 ms to 1 day",
  ...POOL_TEST,
  fn() {
    const field = "maintenance.fold";
    assert.equal(fold.resolve({ intervalMs: 86_400_000 }, field, SETTINGS).intervalMs, 86_400_000);
    for (const bad of [0, 86_400_001, -5, 1.5]) {
      assert.throws(
        () => fold.resolve({ intervalMs: bad }, field, SETTINGS),
        (e: unknown) => e instanceof ValidationError && e.field === `${field}.intervalMs`,
        String(bad),
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
