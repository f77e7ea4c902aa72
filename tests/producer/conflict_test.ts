/**
 * A unique conflict in insertMany names the row that clashed (issue 9 item 18): its index in
 * the jobs array and its unique key, on the COPY path (across batches) and the node-postgres
 * path.
 */
import assert from "node:assert/strict";
import pg from "pg";
import {
  defineJob,
  fromPg,
  insert,
  insertMany,
  UniqueConflictError,
  uniqueKeyHex,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobCount, POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("producer_conflict");
const sql = t.sql;
const job = defineJob<{ n: number }>("conflict_job", { queue: "conflict" });
const keyOf = (n: number) => uniqueKeyHex({ kind: job.kind, args: { n } });

await insert(sql, job, { n: 1000 }, { unique: {} });

function jobsWithClashAt(at: number, total: number, clash: number) {
  return Array.from(
    { length: total },
    (_, i) => i === at ? { args: { n: clash }, unique: {} } : { args: { n: i }, unique: {} },
  );
}

async function conflictOf(p: Promise<unknown>): Promise<UniqueConflictError> {
  const err = await p.then(() => assert.fail("expected a UniqueConflictError"), (e) => e);
  assert.ok(err instanceof UniqueConflictError, String(err));
  return err;
}

Deno.test({
  name: "insertMany conflict with an existing job names the row index and its key",
  ...POOL_TEST,
  async fn() {
    const err = await conflictOf(insertMany(sql, job, jobsWithClashAt(3, 6, 1000)));
    assert.equal(err.index, 3);
    assert.equal(err.uniqueKey, keyOf(1000));
    assert.match(err.message, /jobs\[3\]/);
    assert.equal(await jobCount(sql, "kind = $1", [job.kind]), 1, "nothing of the batch remains");
  },
});

Deno.test({
  name: "insertMany conflict in a later batch and inside one batch names the right index",
  ...POOL_TEST,
  async fn() {
    const late = await conflictOf(
      insertMany(sql, job, jobsWithClashAt(7, 9, 1000), { batchSize: 3 }),
    );
    assert.equal(late.index, 7);
    assert.equal(late.uniqueKey, keyOf(1000));
    // Two rows of one batch with one key: the second one clashes.
    const jobs = jobsWithClashAt(4, 6, 1);
    const dup = await conflictOf(insertMany(sql, job, jobs));
    assert.equal(dup.index, 4);
    assert.equal(dup.uniqueKey, keyOf(1));
  },
});

Deno.test({
  name: "insertMany through node-postgres names the clashing row too",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 2 });
    try {
      const err = await conflictOf(insertMany(fromPg(pool), job, jobsWithClashAt(2, 4, 1000)));
      assert.equal(err.index, 2);
      assert.equal(err.uniqueKey, keyOf(1000));
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "close producer_conflict database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
