/**
 * Open attempts in the database never exceed `2 × maxWorkers + prefetch` per process and
 * queue: an attempt stays open until its outcome commits, and finished handlers whose outcome
 * is still waiting for the completer's flush count against the claim bound beyond the first
 * `maxWorkers` of them. Sampled from the claim tables (the receipts of the instance's claim
 * batches without a closure) during a drain.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insertMany } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_open_attempts");
const sql = t.sql;

/** Receipts of one instance's claims in one queue that no closure has ended yet. */
async function openAttempts(instanceId: string, queue: string): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n
    FROM awa.claim_batches b
    CROSS JOIN LATERAL generate_series(0, cardinality(b.job_ids) - 1) AS i(idx)
    WHERE b.instance_id = ${instanceId}::uuid AND b.queue = ${queue}
      AND NOT EXISTS (
        SELECT 1 FROM awa.claim_closures c
        WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> (b.batch_id * 65536 + i.idx))`;
  return n;
}

async function drainAndSample(queue: string, maxWorkers: number, prefetch: number, jobs: number) {
  const job = defineJob<{ n: number }>(`open_${queue}`, { queue });
  const pool = t.connect();
  const client = new Client(pool, {
    queues: { [queue]: { maxWorkers, prefetch } },
    ...TIMINGS,
    maintenance: false,
  });
  let completed = 0;
  // Short handlers: outcomes pile up in the completer while workers already run the next job.
  client.work(job, async () => {
    await new Promise((r) => setTimeout(r, 1));
  });
  client.on("completed", () => void completed++);
  await insertMany(sql, job, Array.from({ length: jobs }, (_, n) => ({ args: { n } })));
  const samples: number[] = [];
  try {
    await client.start();
    while (completed < jobs) samples.push(await openAttempts(client.instanceId, queue));
    await waitFor("all completed", () => completed === jobs);
  } finally {
    await client.shutdown({ timeoutMs: 2000 });
    await pool.end({ timeout: 1 });
  }
  return { highest: Math.max(...samples), samples: samples.length };
}

for (const [maxWorkers, prefetch, jobs] of [[2, 8, 1500], [2, 0, 600]] as const) {
  Deno.test({
    name: `open attempts stay within 2 × maxWorkers + prefetch (2 × ${maxWorkers} + ${prefetch})`,
    ...POOL_TEST,
    async fn() {
      const bound = 2 * maxWorkers + prefetch;
      const r = await drainAndSample(`b${maxWorkers}_${prefetch}`, maxWorkers, prefetch, jobs);
      console.log(
        `maxWorkers ${maxWorkers}, prefetch ${prefetch}: highest open attempts ${r.highest} ` +
          `in ${r.samples} samples (bound ${bound})`,
      );
      assert.ok(r.samples >= 50, `only ${r.samples} samples`);
      assert.ok(r.highest <= bound, `saw ${r.highest} open attempts, bound ${bound}`);
      assert.ok(r.highest >= 1);
    },
  });
}

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
