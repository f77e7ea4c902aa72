/**
 * A postgres.js reserved connection (`sql.reserve()`) is one session whose transaction state Awa
 * does not know: multi-statement operations run in their own transaction outside one, and inside
 * the caller's `BEGIN` in a savepoint that never commits the caller's work.
 */
import assert from "node:assert/strict";
import { defineJob, insertMany, UniqueConflictError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobCount, POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("executor_reserved");
const sql = t.sql;
const job = defineJob<{ n: number }>("reserved_job", { queue: "reserved" });

Deno.test({
  name: "reserved postgres.js connection: atomic alone, and inside the caller's BEGIN rolled back",
  ...POOL_TEST,
  async fn() {
    const reserved = await sql.reserve();
    try {
      const alone = await insertMany(reserved as never, job, [{ args: { n: 1 } }, {
        args: { n: 2 },
      }]);
      assert.equal(alone.count, 2);
      assert.equal(await jobCount(sql, "kind = $1", [job.kind]), 2);
      await assert.rejects(
        insertMany(reserved as never, job, [
          { args: { n: 3 }, unique: {} },
          { args: { n: 3 }, unique: {} },
        ]),
        UniqueConflictError,
      );
      assert.equal(
        await jobCount(sql, "kind = $1", [job.kind]),
        2,
        "the failed batch left nothing",
      );

      await reserved.unsafe("BEGIN");
      await insertMany(reserved as never, job, [{ args: { n: 4 } }]);
      await reserved.unsafe("ROLLBACK");
      assert.equal(await jobCount(sql, "kind = $1", [job.kind]), 2, "ROLLBACK removed the job");
    } finally {
      reserved.release();
    }
  },
});

Deno.test({
  name: "close executor_reserved database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
