/**
 * A worker process killed with SIGKILL mid-job: another worker rescues the attempt once its
 * heartbeat is stale and completes the job; the dead attempt's late completion is stale.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert } from "../mod.ts";
import { testDatabase } from "./support/db.ts";
import {
  finalizeRaw,
  Fixture,
  jobState,
  POOL_TEST,
  receiptOfJob,
  TIMINGS,
  waitFor,
} from "./runtime_support.ts";

const t = await testDatabase("runtime_crash");
const sql = t.sql;
const blocker = defineJob<{ n: number }>("blocker", { queue: "crash" });

Deno.test({
  name: "SIGKILL mid-job: heartbeat rescue by a second worker, late completion is stale",
  ...POOL_TEST,
  async fn() {
    const fx = new Fixture("worker.ts", [
      t.url,
      "block",
      "crash",
      "victim",
      JSON.stringify(TIMINGS),
    ]);
    let client: Client | null = null;
    try {
      await fx.line((l) => l.ready === true);
      const job = await insert(sql, blocker, { n: 1 });
      const running = await fx.line((l) => l.running === job.id);
      assert.equal(running.runLease, 1);
      assert.equal((await jobState(sql, job.id))?.state, "running");
      const oldReceipt = await receiptOfJob(sql, job.id);
      assert.ok(oldReceipt);
      assert.equal(oldReceipt.run_lease, 1);
      // Heartbeats of the victim keep the attempt alive while it runs.
      await waitFor("a heartbeat row listing the attempt", async () => {
        const [{ n }] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM awa.attempt_heartbeats
          WHERE receipt_ranges @> (${oldReceipt.batch_id}::bigint * 65536 + ${oldReceipt.idx})`;
        return n > 0;
      });

      await fx.kill("SIGKILL");
      assert.equal((await fx.child.status).signal, "SIGKILL");

      // The second worker: in this process, also the maintenance leader.
      const completed: { id: number; attempt: number; runLease: number }[] = [];
      const rescued: { jobId: number; reason: string; state: string }[] = [];
      const errors: unknown[] = [];
      client = new Client(t.connect(), { queues: { crash: {} }, timings: TIMINGS });
      client.work(blocker, () => "done");
      client.on("completed", ({ job }) => {
        completed.push({ id: job.id, attempt: job.attempt, runLease: job.runLease });
      });
      client.on("rescued", (r) => void rescued.push(r));
      client.on("error", (e) => void errors.push(e));
      await client.start();

      await waitFor("the rescued job completes on the second worker", () => completed.length > 0);
      assert.deepEqual(completed, [{ id: job.id, attempt: 2, runLease: 2 }]);
      assert.deepEqual(rescued, [{
        jobId: job.id,
        runLease: 1,
        reason: "heartbeat",
        state: "retryable",
      }]);
      const after = await jobState(sql, job.id);
      assert.equal(after?.state, "completed");
      assert.equal(after?.run_lease, 2);
      const [{ errs }] = await sql<{ errs: { error: string; attempt: number }[] }[]>`
        SELECT errors AS errs FROM awa.jobs WHERE id = ${job.id}`;
      assert.equal(errs.length, 1);
      assert.match(errs[0].error, /heartbeat/);
      assert.equal(errs[0].attempt, 1);

      // The dead attempt's completion arrives late: stale, zero rows, nothing changes.
      const snapshot = async () => {
        const [s] = await sql`
          SELECT (SELECT count(*) FROM awa.done_entries)::int AS done,
            (SELECT count(*) FROM awa.claim_closures)::int AS closures,
            (SELECT count(*) FROM awa.deferred_jobs)::int AS deferred,
            (SELECT count(*) FROM awa.dlq_entries)::int AS held`;
        return s;
      };
      const before = await snapshot();
      for (const outcome of ["completed", "retry", "fail", "cancel", "snooze"]) {
        assert.deepEqual(await finalizeRaw(sql, oldReceipt, outcome), [], outcome);
      }
      assert.deepEqual(await snapshot(), before);
      assert.equal((await jobState(sql, job.id))?.state, "completed");
      // No job lost: the only job of the queue is the completed one.
      const [{ n }] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.jobs WHERE queue = 'crash' AND state <> 'completed'`;
      assert.equal(n, 0);
      assert.deepEqual(errors, []);
    } finally {
      await fx.kill();
      await client?.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
