/**
 * Graceful shutdown with in-flight jobs, the shutdown timeout path (attempt released, not
 * counted, completed elsewhere; the late outcome is dropped), and loss of the LISTEN connection.
 */
import assert from "node:assert/strict";
import {
  Client,
  defineJob,
  insert,
  type Job,
  ShutdownAbortError,
  TimeoutError,
} from "../../mod.ts";
import { LISTEN_APPLICATION_NAME } from "../../src/db/notifier.ts";
import { testDatabase } from "../support/db.ts";
import {
  finalizeRaw,
  jobState,
  POOL_TEST,
  receiptOfJob,
  sleep,
  TIMINGS,
  waitFor,
} from "../support/runtime.ts";

const t = await testDatabase("runtime_shutdown");
const sql = t.sql;

Deno.test({
  name: "graceful shutdown: in-flight handlers that finish within the timeout complete",
  ...POOL_TEST,
  async fn() {
    const slow = defineJob<{ n: number }>("slow", { queue: "grace" });
    const client = new Client(t.connect(), { queues: { grace: {} }, ...TIMINGS });
    const completed: number[] = [];
    let aborted = 0;
    client.work(slow, async (_job, ctx) => {
      ctx.signal.addEventListener("abort", () => aborted++);
      await sleep(300);
      return "ok";
    });
    client.on("completed", ({ job }) => void completed.push(job.id));
    try {
      await client.start();
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await insert(sql, slow, { n: i })).id);
      await waitFor("5 handlers running", () => client.stats().running === 5);
      await client.shutdown({ timeoutMs: 10_000 });
      assert.deepEqual(completed.sort(), ids.sort());
      assert.equal(aborted, 0);
      for (const id of ids) assert.equal((await jobState(sql, id))?.state, "completed");
      assert.equal(client.stats().running, 0);
    } finally {
      await client.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({
  name:
    "shutdown timeout: attempt released uncounted, completed by another client, late outcome dropped",
  ...POOL_TEST,
  async fn() {
    const stuck = defineJob<{ n: number }>("stuck", { queue: "stuck" });
    const c1 = new Client(t.connect(), { queues: { stuck: {} }, ...TIMINGS });
    const c2 = new Client(t.connect(), { queues: { stuck: {} }, ...TIMINGS });
    const events1: string[] = [];
    let signalFired = false;
    let abortReason: unknown = null;
    let firstReturned = false;
    c1.work(stuck, async (_job, ctx) => {
      ctx.signal.addEventListener("abort", () => {
        signalFired = true;
        abortReason = ctx.signal.reason;
      });
      await sleep(5000); // ignores the signal (long: a loaded shutdown took over 1.3 s)
      firstReturned = true;
      return "late";
    });
    for (const e of ["completed", "retried", "snoozed", "failed", "stale"] as const) {
      c1.on(e, () => void events1.push(e));
    }
    const done2: Job<unknown>[] = [];
    c2.work(stuck, () => "second");
    c2.on("completed", ({ job }) => void done2.push(job));
    try {
      await c1.start();
      const job = await insert(sql, stuck, { n: 1 });
      await waitFor("running on c1", () => c1.stats().running === 1);
      const oldReceipt = (await receiptOfJob(sql, job.id))!;
      assert.equal(oldReceipt.run_lease, 1);

      await c1.shutdown({ timeoutMs: 200 });
      assert.equal(signalFired, true, "the handler's signal fired at the timeout");
      assert.ok(abortReason instanceof ShutdownAbortError, String(abortReason));
      assert.equal(abortReason.code, "SHUTDOWN");
      assert.equal(firstReturned, false, "shutdown did not wait for the stuck handler");
      const released = await jobState(sql, job.id);
      assert.ok(released && ["scheduled", "available"].includes(released.state), released?.state);
      assert.equal(released.attempt, 0, "the released attempt is not counted");

      await c2.start();
      await waitFor("c2 completes the job", () => done2.length === 1);
      assert.equal(done2[0].id, job.id);
      assert.equal(done2[0].attempt, 1, "first counted attempt");
      assert.equal(done2[0].runLease, 2);
      assert.equal((await jobState(sql, job.id))?.state, "completed");

      // The first handler returns late: its outcome is dropped, and written directly it is stale.
      await waitFor("the stuck handler returns", () => firstReturned);
      await sleep(50);
      assert.deepEqual(events1, []);
      assert.deepEqual(await finalizeRaw(sql, oldReceipt), []);
      const [{ n }] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.done_entries WHERE job_id = ${job.id}`;
      assert.equal(n, 1);
    } finally {
      await c1.shutdown({ timeoutMs: 100 });
      await c2.shutdown({ timeoutMs: 1000 });
    }
  },
});

/** Backends of this database that are a notifier's LISTEN connection. */
async function listenPids(): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = ${LISTEN_APPLICATION_NAME}`;
  return rows.map((r) => r.pid);
}

Deno.test({
  name: "LISTEN connection loss: jobs still move, notifications resume after re-listen",
  ...POOL_TEST,
  async fn() {
    const ping = defineJob<{ n: number }>("ping", { queue: "listen" });
    const done = new Set<number>();
    const errors: unknown[] = [];
    const pools: ReturnType<typeof t.connect>[] = [];
    const make = (pollIntervalMs: number) => {
      const pool = t.connect();
      pools.push(pool);
      const c = new Client(pool, {
        queues: { listen: { pollIntervalMs } },
        ...TIMINGS,
      });
      c.work(ping, () => null);
      c.on("completed", ({ job }) => void done.add(job.id));
      c.on("error", (e) => void errors.push(e));
      return c;
    };

    // Polling keeps jobs moving while the listener is gone.
    const polling = make(100);
    try {
      await polling.start();
      const [old] = await waitFor("a LISTEN backend", async () => {
        const p = await listenPids();
        return p.length === 1 ? p : null;
      });
      await sql`SELECT pg_terminate_backend(${old})`;
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push((await insert(sql, ping, { n: i })).id);
      await waitFor("jobs complete without the listener", () => ids.every((id) => done.has(id)));
      const relisten = await waitFor("the notifier listens again", async () => {
        const p = await listenPids();
        return p.length === 1 && p[0] !== old ? p[0] : null;
      });
      console.log(`LISTEN backend ${old} terminated; re-listened on ${relisten}`);
    } finally {
      await polling.shutdown({ timeoutMs: 1000 });
      await pools[0].end({ timeout: 1 }); // shutdown already closed the LISTEN connection
    }

    // With a 10-minute poll only a notification can wake the dispatcher: after the LISTEN
    // backend is killed and the notifier re-listens, a new job still starts at once.
    const notified = make(600_000);
    try {
      await notified.start();
      const [old] = await waitFor("a LISTEN backend", async () => {
        const p = await listenPids();
        return p.length === 1 ? p : null;
      });
      const j0 = await insert(sql, ping, { n: 100 });
      await waitFor("notified job completes", () => done.has(j0.id));
      await sql`SELECT pg_terminate_backend(${old})`;
      await waitFor("re-listen", async () => {
        const p = await listenPids();
        return p.length === 1 && p[0] !== old;
      });
      // Let the dispatcher's re-listen wakeup pass, so the next claim needs a notification.
      await waitFor("dispatcher idle", () => notified.stats().running === 0);
      await sleep(300);
      const claimsBefore = notified.stats().claims;
      const j1 = await insert(sql, ping, { n: 101 });
      await waitFor(
        "job after re-listen completes via notification",
        () => done.has(j1.id),
        15_000,
      );
      assert.ok(notified.stats().claims > claimsBefore);
    } finally {
      await notified.shutdown({ timeoutMs: 1000 });
    }
    const unexpected = errors.filter((e) => !/listen|terminat|57P01/i.test(JSON.stringify(e)));
    assert.deepEqual(unexpected, []);
  },
});

Deno.test({
  name: "shutdown is bounded when the database stops answering its cleanup statements",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("bounded", { queue: "bounded" });
    const pool = t.connect();
    const client = new Client(pool, { queues: { bounded: {} }, ...TIMINGS });
    client.work(job, () => "ok");
    const errors: { where: string; error: unknown }[] = [];
    client.on("error", (e) => void errors.push(e));
    await client.start();
    const done = await insert(sql, job, { n: 1 });
    await waitFor("the job ran", async () => (await jobState(sql, done.id))?.state === "completed");
    // Shutdown's last steps (leader bookkeeping, deregistering) write awa.runtime_instances:
    // a session holding it locked makes them wait for good.
    let release!: () => void;
    const released = new Promise<void>((r) => release = r);
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => locked = r);
    const holder = sql.begin(async (tx) => {
      await tx`LOCK TABLE awa.runtime_instances IN ACCESS EXCLUSIVE MODE`;
      locked();
      await released;
    });
    try {
      await isLocked;
      const t0 = Date.now();
      await client.shutdown({ timeoutMs: 0 });
      const ms = Date.now() - t0;
      // Outcome grace (idle here), then the shared 5 s cleanup budget and the 250 ms minimum
      // of each later step.
      assert.ok(ms >= 4000 && ms < 12_000, `shutdown took ${ms} ms`);
      const late = errors.filter((e) => e.where.startsWith("shutdown: "));
      assert.ok(late.length > 0, JSON.stringify(errors.map((e) => e.where)));
      for (const e of late) {
        assert.ok(e.error instanceof TimeoutError, String(e.error));
        assert.equal((e.error as TimeoutError).code, "TIMEOUT");
      }
      assert.ok(
        late.some((e) => e.where === "shutdown: deregister runtime"),
        JSON.stringify(late.map((e) => e.where)),
      );
      const before = errors.length;
      release();
      await holder;
      await sleep(300);
      assert.equal(errors.length, before, "an abandoned step reports nothing afterwards");
    } finally {
      release();
      await holder.catch(() => {});
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
