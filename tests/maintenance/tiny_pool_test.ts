/**
 * Tiny pools (issue 19 item 3): with 64 workers, a client on a pool of one or two connections
 * (its own from a URL, or one it is given) completes its work with a leader promoting
 * scheduled jobs: the leader lock lives on a connection of its own, not one of the pool's.
 * Nothing hangs and shutdown is clean.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Client, defineJob, insertMany, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("maintenance_pool");
const sql = t.sql;

/** Run 200 jobs (50 of them scheduled, so the leader must promote them) through `client`. */
async function runJobs(client: Client, queue: string): Promise<void> {
  const job = defineJob<{ n: number }>(`job_${queue}`, { queue });
  const done = new Set<number>();
  client.work(job, () => {});
  client.on("completed", ({ job }) => void done.add(job.id));
  await client.start();
  try {
    const soon = new Date(Date.now() + 300);
    const { count } = await insertMany(
      sql,
      job,
      Array.from({ length: 200 }, (_, n) => ({ args: { n }, ...(n % 4 ? {} : { runAt: soon }) })),
    );
    await waitFor(`all 200 jobs of ${queue} completed`, () => done.size === 200, 30_000);
    assert.equal(count, 200);
    // A loaded machine may delay a leadership check enough to cost a re-election; it leads.
    await waitFor(`${queue} leads`, () => client.isLeader);
    assert.ok(client.stats().maintenance!.promoted >= 50);
  } finally {
    const stopped = client.shutdown({ timeoutMs: 2000 });
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`shutdown of ${queue} hung`)), 15_000)
    );
    await Promise.race([stopped, timeout]);
  }
}

for (const poolSize of [1, 2]) {
  Deno.test({
    name: `a client from a URL with poolSize ${poolSize} and 64 workers completes its work`,
    ...POOL_TEST,
    async fn() {
      const queue = `url_${poolSize}`;
      const client = new Client(t.url, {
        queues: { [queue]: { maxWorkers: 64 } },
        ...TIMINGS,
        poolSize,
      });
      await runJobs(client, queue);
    },
  });
}

for (const max of [1, 2]) {
  Deno.test({
    name: `a given pool of max ${max} serves 64 workers with a leader`,
    ...POOL_TEST,
    async fn() {
      const pool = postgres(t.url, { max, onnotice: () => {} });
      try {
        const queue = `sql_${max}`;
        const client = new Client(pool, {
          queues: { [queue]: { maxWorkers: 64 } },
          ...TIMINGS,
        });
        await runJobs(client, queue);
      } finally {
        await pool.end({ timeout: 1 });
      }
    },
  });
}

Deno.test({
  name: "poolSize must be a positive integer",
  ...POOL_TEST,
  fn() {
    for (const poolSize of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => new Client(t.url, { queues: { q: {} }, poolSize }),
        (err: unknown) => err instanceof ValidationError && err.field === "options.poolSize",
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
