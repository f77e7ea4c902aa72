/**
 * Prefetch: jobs claimed ahead of free workers are held in the process, started as workers free
 * up, handed back uncounted at shutdown or when they wait too long, and dropped unrun when
 * cancelled while held. maxWorkers still bounds the handlers running at once.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_prefetch");
const sql = t.sql;

/** A gate a handler can wait on; `open()` lets every waiter through. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => open = r);
  return { wait: () => p, open };
}

Deno.test({
  name: "prefetch: held jobs run as workers free up, never more than maxWorkers at once",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pf_bound", { queue: "pf_bound" });
    const client = new Client(t.connect(), {
      queues: { pf_bound: { maxWorkers: 2, prefetch: 10 } },
      ...TIMINGS,
    });
    let running = 0;
    let peak = 0;
    const g = gate();
    const ran: number[] = [];
    client.work(job, async (j) => {
      running++;
      peak = Math.max(peak, running);
      await g.wait();
      await sleep(20);
      ran.push(j.args.n);
      running--;
    });
    try {
      const ids: number[] = [];
      for (let n = 0; n < 12; n++) ids.push((await insert(sql, job, { n })).id);
      await client.start();
      await waitFor("2 running and 10 held", () => {
        const s = client.stats();
        return s.running === 2 && s.held === 10;
      });
      // Held jobs are claimed: other processes see them as running, not available.
      const [{ n }] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.jobs WHERE queue = 'pf_bound' AND state = 'running'`;
      assert.equal(n, 12);
      g.open();
      await waitFor("all 12 ran", () => ran.length === 12);
      assert.equal(peak, 2, "maxWorkers bounds running handlers even with jobs held");
      assert.deepEqual([...ran].sort((a, b) => a - b), [...Array(12).keys()]);
      await waitFor("all completed", async () => {
        for (const id of ids) if ((await jobState(sql, id))?.state !== "completed") return false;
        return true;
      });
    } finally {
      g.open();
      await client.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({
  name: "prefetch: shutdown hands held jobs back without counting an attempt",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pf_stop", { queue: "pf_stop" });
    const first = new Client(t.connect(), {
      queues: { pf_stop: { maxWorkers: 1, prefetch: 5 } },
      ...TIMINGS,
    });
    const g = gate();
    const ranByFirst: number[] = [];
    first.work(job, async (j) => {
      ranByFirst.push(j.id);
      await g.wait();
    });
    const ids: number[] = [];
    for (let n = 0; n < 6; n++) ids.push((await insert(sql, job, { n })).id);
    await first.start();
    try {
      await waitFor("1 running and 5 held", () => {
        const s = first.stats();
        return s.running === 1 && s.held === 5;
      });
      const stopping = first.shutdown({ timeoutMs: 10_000 });
      // Held jobs go back at once, while the running handler is still inside its grace period.
      await waitFor("held jobs handed back", async () => {
        const rows = await sql<{ state: string; attempt: number }[]>`
          SELECT state::text, attempt FROM awa.jobs
          WHERE id = ANY(${ids.filter((id) => id !== ranByFirst[0])})`;
        return rows.length === 5 &&
          rows.every((r) => ["available", "scheduled"].includes(r.state) && r.attempt === 0);
      });
      g.open();
      await stopping;
    } finally {
      g.open();
      await first.shutdown({ timeoutMs: 1000 });
    }
    assert.equal(ranByFirst.length, 1, "only the running job ran in the stopped client");
    assert.equal((await jobState(sql, ranByFirst[0]))?.state, "completed");

    const second = new Client(t.connect(), { queues: { pf_stop: {} }, ...TIMINGS });
    const attempts = new Map<number, number>();
    second.work(job, (j) => {
      attempts.set(j.id, j.attempt);
      return Promise.resolve();
    });
    await second.start();
    try {
      await waitFor("the 5 handed-back jobs ran elsewhere", () => attempts.size === 5, 20_000);
      for (const [id, attempt] of attempts) {
        assert.equal(attempt, 1, `job ${id} starts its first counted attempt`);
        assert.ok(id !== ranByFirst[0]);
      }
    } finally {
      await second.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({
  name: "prefetch: a job cancelled while held never runs",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pf_cancel", { queue: "pf_cancel" });
    const client = new Client(t.connect(), {
      queues: { pf_cancel: { maxWorkers: 1, prefetch: 3 } },
      ...TIMINGS,
    });
    const g = gate();
    const ran: number[] = [];
    client.work(job, async (j) => {
      ran.push(j.id);
      if (ran.length === 1) await g.wait();
    });
    const ids: number[] = [];
    for (let n = 0; n < 4; n++) ids.push((await insert(sql, job, { n })).id);
    await client.start();
    try {
      await waitFor("1 running and 3 held", () => {
        const s = client.stats();
        return s.running === 1 && s.held === 3;
      });
      const victim = ids.find((id) => id !== ran[0])!;
      const [{ s }] = await sql`SELECT awa.cancel_job(${victim}) AS s`;
      assert.ok(s, "cancel_job reports a transition");
      // The cancel notification reaches the held attempt before it could start.
      await sleep(300);
      g.open();
      await waitFor("the other jobs ran", () => ran.length === 3);
      await sleep(200);
      assert.ok(!ran.includes(victim), "the cancelled held job never ran");
      assert.equal((await jobState(sql, victim))?.state, "cancelled");
      assert.equal(client.stats().staleCompletions, 0);
    } finally {
      g.open();
      await client.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({
  name: "prefetch: a job held past half its deadline is handed back, then runs uncounted",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pf_age", { queue: "pf_age" });
    const client = new Client(t.connect(), {
      queues: { pf_age: { maxWorkers: 1, prefetch: 2, deadlineMs: 1000 } },
      ...TIMINGS,
    });
    const runs: { id: number; attempt: number }[] = [];
    client.work(job, async (j) => {
      runs.push({ id: j.id, attempt: j.attempt });
      if (runs.length === 1) await sleep(700);
    });
    const ids: number[] = [];
    for (let n = 0; n < 3; n++) ids.push((await insert(sql, job, { n })).id);
    await client.start();
    try {
      await waitFor("every job completed", async () => {
        for (const id of ids) if ((await jobState(sql, id))?.state !== "completed") return false;
        return true;
      }, 20_000);
      assert.ok(client.stats().returned >= 1, "a held job waited past 500 ms and went back");
      assert.equal(runs.length, 3, "each job ran exactly once");
      for (const r of runs) assert.equal(r.attempt, 1, `job ${r.id} ran as its first attempt`);
    } finally {
      await client.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({
  name: "prefetch: bad values are rejected with a ValidationError",
  ...POOL_TEST,
  fn() {
    for (const prefetch of [-1, 1.5, 10_001, Number.NaN]) {
      assert.throws(
        () => new Client(sql, { queues: { q: { prefetch } } }),
        (e: unknown) => e instanceof ValidationError && /prefetch/.test(e.message),
        `prefetch ${prefetch}`,
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
