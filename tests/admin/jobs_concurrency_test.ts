/**
 * Lock order under load (issue 11, item 7, for the job and DLQ operations): 20 000 jobs flow
 * through a Client (with maintenance: rotation, pruning into history, promotion) while admin
 * loops on their own connections cancel, retry, bulk-cancel, bulk-retry, list, drain and purge.
 * No statement may fail with a deadlock, and the database's deadlock counter
 * (pg_stat_database.deadlocks) must not move. Afterwards every job is finished or held.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insertMany } from "../../mod.ts";
import {
  cancelJob,
  cancelJobs,
  drain,
  getJob,
  listDlq,
  listJobs,
  purgeDlqJobs,
  retryDlqJobs,
  retryJob,
  retryJobs,
} from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { TIMINGS, waitFor, withTimings } from "../support/runtime.ts";

const TOTAL = 20_000;
const BATCH = 1000;

Deno.test({
  name: "admin operations race 20k flowing jobs without a deadlock",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await testDatabase("admin_concurrency");
    const dbName = new URL(t.url).pathname.slice(1);
    const deadlocks = async () => {
      await t.sql`SELECT pg_stat_clear_snapshot()`;
      const [{ n }] = await t.sql<{ n: number }[]>`
        SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = ${dbName}`;
      return n;
    };
    const before = await deadlocks();
    const flow = defineJob<{ n: number }>("flow", { queue: "flow", maxAttempts: 1 });
    const side = defineJob<{ n: number }>("side", { queue: "side" });
    const client = new Client(t.url, {
      queues: { flow: { maxWorkers: 32 } },
      ...withTimings({ maintenance: { rings: { intervalMs: 200 } } }, TIMINGS),
      dlqEnabledByDefault: true,
    });
    // Every 25th job fails into the DLQ, so retries and purges have work.
    client.work(flow, ({ args }) => {
      if (args.n % 25 === 0) throw new Error("planned failure");
      return null;
    });
    await client.start();
    const errors: unknown[] = [];
    const ops: Record<string, number> = {};
    let producing = true;
    const loop = (name: string, pool: typeof t.sql, body: (db: typeof t.sql) => Promise<unknown>) =>
      (async () => {
        while (producing) {
          try {
            await body(pool);
            ops[name] = (ops[name] ?? 0) + 1;
          } catch (err) {
            // Only a deadlock or an unexpected error counts; races with the workers (a job
            // finished between list and cancel) surface as typed state errors.
            const code = (err as { code?: string }).code;
            if (code !== "JOB_STATE" && code !== "JOB_NOT_FOUND") errors.push(err);
          }
        }
      })();
    const pools = Array.from({ length: 4 }, () => t.connect({ max: 2 }));
    try {
      const loops = [
        loop("cancel one / retry one", pools[0], async (db) => {
          const page = await listJobs(db, { queue: "flow", limit: 20 });
          const pick = page.items[Math.floor(Math.random() * page.items.length)];
          if (pick === undefined) return;
          if (pick.state === "failed") await retryJob(db, pick.id);
          else if (pick.state !== "cancelled" && pick.state !== "completed") {
            await cancelJob(db, pick.id);
          }
          await getJob(db, pick.id);
        }),
        loop("bulk cancel / bulk retry", pools[1], async (db) => {
          // Cancelled jobs come back as new copies: retry only those created a moment ago, so
          // the loop does not feed itself.
          const since = new Date(Date.now() - 200);
          await cancelJobs(db, { queue: "flow", tag: "odd", since, batchSize: 100 });
          await retryJobs(db, { queue: "flow", state: "cancelled", since, batchSize: 100 });
          await retryJobs(db, { queue: "flow", state: "failed", batchSize: 100 });
        }),
        loop("dlq", pools[2], async (db) => {
          await listDlq(db, { queue: "flow", limit: 50 });
          await retryDlqJobs(db, { queue: "flow", batchSize: 50 });
          await purgeDlqJobs(db, {
            kind: "flow",
            since: new Date(Date.now() - 1000),
            batchSize: 50,
          });
        }),
        loop("drain", pools[3], async (db) => {
          await insertMany(db, side, Array.from({ length: 100 }, (_, n) => ({ args: { n } })));
          await drain(db, "side", { batchSize: 40 });
        }),
      ];
      for (let i = 0; i < TOTAL; i += BATCH) {
        await insertMany(
          t.sql,
          flow,
          Array.from({ length: BATCH }, (_, k) => ({
            args: { n: i + k },
            tags: (i + k) % 2 ? ["odd"] : [],
          })),
        );
      }
      // The admin loops race the workers a little longer, then stop so the queue can settle.
      await new Promise((r) => setTimeout(r, 15_000));
      producing = false;
      await Promise.all(loops);
      // Settled: no live job left in the queue (through the admin listing, which pages cheaply).
      await waitFor(
        "the flow queue to settle",
        async () => {
          for (const state of ["available", "running", "retryable", "scheduled"] as const) {
            if (
              (await listJobs(t.sql, { queue: "flow", state, limit: 1 })).items.length
            ) return false;
          }
          return true;
        },
        240_000,
        500,
      );
    } finally {
      producing = false;
      await client.shutdown({ timeoutMs: 10_000 });
    }
    for (const [name, n] of Object.entries(ops)) assert.ok(n > 0, `${name} ran`);
    assert.deepEqual(errors.map(String), [], "no admin operation failed");
    // The counter is flushed by the backends' statistics reports (at most a second late).
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await deadlocks(), before, "no deadlock detected in the test database");
    console.log(`admin ops completed under load: ${JSON.stringify(ops)}`);
    await t.close();
  },
});
