/**
 * A job brought back from the DLQ starts again at run_lease 0, below the leases of its older
 * ready rows, which may still sit in the same ring slot. Found by the model property with seed
 * 5551: the jobs view listed such a job twice once it was cancelled, and `cancel_job` picked the
 * old row (highest lease) and did nothing.
 */
import assert from "node:assert/strict";
import { defineJob, insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("dlq_retry");
const sql = t.sql;
const job = defineJob<{ n: number }>("dlq_again", { queue: "dlq_again", maxAttempts: 5 });

/** Claim every ready job of the queue and finalize each with `outcome`. */
async function claimAndFinalize(outcome: string): Promise<string[]> {
  const rows = await sql<{ state: string }[]>`
    SELECT f.state FROM awa.finalize_attempts((
      SELECT jsonb_agg(jsonb_build_object('claim_slot', c.claim_slot, 'batch_id', c.batch_id,
        'idx', c.idx, 'job_id', c.job_id, 'run_lease', c.run_lease, 'outcome', ${outcome}::text,
        'delay_s', 0))
      FROM awa.claim_batch('dlq_again', 10, 300, 60, gen_random_uuid()) c
    ), false, true) f`;
  return rows.map((r) => r.state);
}

async function rowsOf(id: number): Promise<{ state: string }[]> {
  return [...await sql<{ state: string }[]>`SELECT state::text FROM awa.jobs WHERE id = ${id}`];
}

for (const retriesFirst of [0, 2]) {
  Deno.test({
    name: `DLQ retry after ${retriesFirst} retries: the ready job cancels and shows once`,
    ...POOL_TEST,
    async fn() {
      const j = await insert(sql, job, { n: retriesFirst });
      for (let i = 0; i < retriesFirst; i++) {
        assert.deepEqual(await claimAndFinalize("retry"), ["retryable"]);
        const [{ n }] = await sql<{ n: number }[]>`
          UPDATE awa.deferred_jobs SET run_at = now() WHERE job_id = ${j.id} RETURNING 1 AS n`;
        assert.equal(n, 1);
        await sql`SELECT awa.promote_due(100)`;
      }
      assert.deepEqual(await claimAndFinalize("fail"), ["failed"]);
      const [{ r }] = await sql`SELECT awa.retry_held(${j.id}) AS r`;
      assert.equal(Number(r), j.id);
      assert.deepEqual(await rowsOf(j.id), [{ state: "available" }]);

      const [{ c }] = await sql`SELECT awa.cancel_job(${j.id}) AS c`;
      assert.equal(c, "cancelled", "cancel_job finds the newest ready row");
      assert.deepEqual(await rowsOf(j.id), [{ state: "cancelled" }], "one row in awa.jobs");
      assert.deepEqual(await claimAndFinalize("completed"), [], "nothing left to claim");
    },
  });
}

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
