/**
 * `ctx.signal.reason` for a heartbeat rescue (JobRescuedError) and a cancel that reaches a
 * running attempt through `cancelByUniqueKey`-style SQL (JobCancelledError, one `cancelled`
 * event, no `stale`). Deadline and shutdown reasons are covered in runtime_outcomes_test.ts
 * and runtime_shutdown_test.ts.
 */
import assert from "node:assert/strict";
import { Client, type ClientEvents, defineJob, insert, JobRescuedError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_abort_reasons");
const sql = t.sql;

Deno.test({
  name: "heartbeat rescue aborts the running handler with JobRescuedError",
  ...POOL_TEST,
  async fn() {
    const hang = defineJob<unknown>("hang", { queue: "hb" });
    // The worker heartbeats every 10 s; the leader rescues after 600 ms without one, so the
    // live attempt is rescued as if the worker had stalled.
    const worker = new Client(t.connect(), {
      queues: { hb: {} },
      heartbeat: { intervalMs: 10_000, stalenessMs: 30_000 },
      maintenance: false,
    });
    const leader = new Client(t.connect(), { queues: { other: {} }, ...TIMINGS });
    let reason: unknown = null;
    let attempts = 0;
    worker.work(hang, async (job, ctx) => {
      attempts++;
      if (job.attempt > 1) return "second";
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      reason = ctx.signal.reason;
      return "late";
    });
    const events: string[] = [];
    for (const e of ["completed", "cancelled", "stale", "retried"] as const) {
      worker.on(e, (ev: ClientEvents[typeof e]) => void events.push(`${e}:${ev.job.attempt}`));
    }
    const rescued: ClientEvents["rescued"][] = [];
    leader.on("rescued", (e) => void rescued.push(e));
    try {
      await worker.start();
      await leader.start();
      const j = await insert(sql, hang, {});
      await waitFor("rescued", () => rescued.some((r) => r.jobId === j!.id));
      await waitFor("handler aborted", () => reason !== null);
      assert.ok(reason instanceof JobRescuedError, String(reason));
      assert.equal(reason.code, "JOB_RESCUED");
      await waitFor("stale late outcome", () => events.includes("stale:1"));
      assert.ok(!events.includes("cancelled:1"), JSON.stringify(events));
      assert.ok(attempts >= 1);
      assert.ok(["retryable", "available", "running", "completed"].includes(
        (await jobState(sql, j!.id))?.state ?? "",
      ));
    } finally {
      await worker.shutdown({ timeoutMs: 1000 });
      await leader.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({
  name: "a cancel of a held (prefetched) attempt emits cancelled once and no stale",
  ...POOL_TEST,
  async fn() {
    const slow = defineJob<{ n: number }>("slow_cx", { queue: "cx" });
    const client = new Client(t.connect(), {
      queues: { cx: { maxWorkers: 1, prefetch: 2 } },
      ...TIMINGS,
      maintenance: false,
    });
    const started: number[] = [];
    let releaseFirst!: () => void;
    client.work(slow, async (job) => {
      started.push(job.args.n);
      if (job.args.n === 0) await new Promise<void>((r) => releaseFirst = r);
    });
    const events: { type: string; id: number }[] = [];
    for (const e of ["completed", "cancelled", "stale"] as const) {
      client.on(e, (ev: ClientEvents[typeof e]) => void events.push({ type: e, id: ev.job.id }));
    }
    try {
      const ids: number[] = [];
      for (let n = 0; n < 3; n++) ids.push((await insert(sql, slow, { n }))!.id);
      await client.start();
      await waitFor("first running, two held", () => {
        const s = client.stats();
        return s.running === 1 && s.held === 2;
      });
      // Cancel a held (claimed, not started) job: its attempt is open, so the notice reaches it.
      const [{ s }] = await sql`SELECT awa.cancel_job(${ids[1]}) AS s`;
      assert.equal(s, "cancelled");
      await waitFor("cancelled event", () => events.some((e) => e.id === ids[1]));
      releaseFirst();
      await waitFor(
        "others complete",
        () => events.filter((e) => e.type === "completed").length === 2,
      );
      await sleep(200);
      assert.deepEqual(events.filter((e) => e.id === ids[1]).map((e) => e.type), ["cancelled"]);
      assert.ok(!started.includes(1), "the cancelled held job never started");
    } finally {
      await client.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
