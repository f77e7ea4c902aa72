/**
 * A worker process killed with SIGKILL mid-job: another worker rescues the attempt once its
 * heartbeat is stale and completes the job; the dead attempt's late completion is stale. A
 * heartbeat rescue makes the job available at once (the attempt counts, no backoff), and
 * prefetched jobs that never started go back uncounted.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import {
  finalizeRaw,
  Fixture,
  jobState,
  POOL_TEST,
  receiptOfJob,
  TIMINGS,
  waitFor,
  withTimings,
} from "../support/runtime.ts";

const t = await testDatabase("runtime_crash");
const sql = t.sql;
const blocker = defineJob<{ n: number }>("blocker", { queue: "crash" });

/** Kind of tests/fixtures/rescue_worker.ts: `block` jobs never return there. */
function rescueWork(queue: string) {
  return defineJob<{ block: boolean }>("rescue_work", { queue });
}

/** Timings of the rescue-delay test: 3 s staleness, as in the measurement. */
const SLOW_BEAT = withTimings({ heartbeat: { intervalMs: 1000, stalenessMs: 3000 } });

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
      client = new Client(t.connect(), { queues: { crash: {} }, ...TIMINGS });
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

Deno.test({
  name: "SIGKILL: a heartbeat rescue counts the attempt but makes the job available at once",
  ...POOL_TEST,
  async fn() {
    const queue = "crash_fast";
    const def = rescueWork(queue);
    const fx = new Fixture("rescue_worker.ts", [t.url, queue, "1", "0", JSON.stringify(SLOW_BEAT)]);
    let client: Client | null = null;
    try {
      await fx.line((l) => l.ready === true);
      const job = await insert(sql, def, { block: true });
      await fx.line((l) => l.running === job.id);
      const killedAt = Date.now();
      await fx.kill("SIGKILL");

      let secondAt = 0;
      let secondAttempt = 0;
      client = new Client(t.connect(), { queues: { [queue]: {} }, ...SLOW_BEAT });
      client.work(def, (j) => {
        secondAt = Date.now();
        secondAttempt = j.attempt;
      });
      await client.start();
      await waitFor("the rescued job runs again", () => secondAt > 0, 30_000);
      const killToSecond = secondAt - killedAt;
      // From the rescue's closure to the next claim: no retry backoff (≥ 2 s for attempt 1).
      const [{ gapMs }] = await sql<{ gapMs: number }[]>`
        SELECT (extract(epoch FROM b.claimed_at - c.closed_at) * 1000)::int AS "gapMs"
        FROM awa.claim_closures c, awa.claim_batches b
        WHERE c.outcome = 'rescue_heartbeat' AND b.queue = ${queue}
          AND ${job.id}::bigint = ANY(b.job_ids) AND 2::bigint = ANY(b.run_leases)`;
      console.log(
        `kill → second attempt: ${killToSecond} ms (staleness ${SLOW_BEAT.heartbeat?.stalenessMs} ms, ` +
          `heartbeat ${SLOW_BEAT.heartbeat?.intervalMs} ms, rescue interval ` +
          `${SLOW_BEAT.maintenance?.rescue && SLOW_BEAT.maintenance.rescue.intervalMs} ms); ` +
          `rescue → claim ${gapMs} ms`,
      );
      assert.equal(secondAttempt, 2, "the crashed attempt still counts");
      assert.ok(gapMs < 1000, `rescued job waited ${gapMs} ms after its rescue: a backoff`);
      const [{ errs }] = await sql<{ errs: { error: string; attempt: number }[] }[]>`
        SELECT errors AS errs FROM awa.jobs WHERE id = ${job.id}`;
      assert.equal(errs.length, 1);
      assert.match(errs[0].error, /heartbeat/);
    } finally {
      await fx.kill();
      await client?.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({
  name: "SIGKILL with prefetch: never-started held jobs go back uncounted, started ones count",
  ...POOL_TEST,
  async fn() {
    const queue = "crash_prefetch";
    const def = rescueWork(queue);
    // One quick job, then a slow one, then seven more: all nine claimed at once by a process
    // with one worker and prefetch 8. The quick one starts at claim; the slow one is held, then
    // started (its start recorded) when the worker frees up; the other seven never start.
    const quick = await insert(sql, def, { block: false });
    const slow = await insert(sql, def, { block: true });
    const waiting: number[] = [];
    for (let i = 0; i < 7; i++) waiting.push((await insert(sql, def, { block: true })).id);
    const fx = new Fixture("rescue_worker.ts", [t.url, queue, "1", "8", JSON.stringify(TIMINGS)]);
    let client: Client | null = null;
    try {
      await fx.line((l) => l.running === slow.id);
      assert.equal(fx.lines.filter((l) => "running" in l).length, 2, "only two handlers started");
      // The quick job's outcome commits in the completer's next flush, after its handler
      // returned: kill only once it has, or the kill falls in the documented re-run window.
      await waitFor(
        "the quick job's completion committed",
        async () => (await jobState(sql, quick.id))?.state === "completed",
      );
      await fx.kill("SIGKILL");

      const runs = new Map<number, number>();
      const rescued: { jobId: number; state: string }[] = [];
      client = new Client(t.connect(), { queues: { [queue]: {} }, ...TIMINGS });
      client.work(def, (j) => void runs.set(j.id, j.attempt));
      client.on("rescued", (r) => void rescued.push(r));
      await client.start();
      await waitFor("every rescued job ran again", () => runs.size === 8, 30_000);

      assert.equal((await jobState(sql, quick.id))?.state, "completed");
      assert.equal(runs.has(quick.id), false);
      assert.equal(runs.get(slow.id), 2, "the started held job counts its crashed attempt");
      for (const id of waiting) {
        assert.equal(runs.get(id), 1, `job ${id} never started: its attempt is not counted`);
      }
      const errors = new Map(
        (await sql<{ id: number; errs: { error: string }[] | null }[]>`
          SELECT id::int, errors AS errs FROM awa.jobs WHERE queue = ${queue}`)
          .map((r) => [r.id, r.errs ?? []]),
      );
      assert.equal(errors.get(slow.id)?.length, 1);
      assert.match(errors.get(slow.id)![0].error, /heartbeat/);
      for (const id of waiting) assert.deepEqual(errors.get(id), [], `job ${id} has no error`);
      assert.equal(rescued.filter((r) => r.state === "scheduled").length, 7);
      assert.deepEqual(rescued.filter((r) => r.state !== "scheduled"), [
        { jobId: slow.id, runLease: 1, reason: "heartbeat", state: "retryable" },
      ]);
    } finally {
      await fx.kill();
      await client?.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
