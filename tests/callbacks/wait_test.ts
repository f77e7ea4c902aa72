/**
 * Sequential waits (`ctx.waitForCallback`): two waits in one attempt with a heartbeat between,
 * an early resume kept for a wait that starts later, and 20 concurrent resolutions of one
 * callback of which exactly one wins. Timeouts: on a middle attempt the job retries, on the last
 * it fails with reason `callback_timeout`; both reported as `rescued`.
 */
import assert from "node:assert/strict";
import {
  CallbackNotFoundError,
  Client,
  type ClientEvents,
  completeExternal,
  defineJob,
  failExternal,
  heartbeatCallback,
  insert,
  resumeExternal,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("callbacks_wait");
const sql = t.sql;

const twoWaits = defineJob<unknown>("two_waits", { queue: "w" });
const early = defineJob<unknown>("early", { queue: "w" });
const race = defineJob<unknown>("race", { queue: "w" });
const timesOut = defineJob<unknown>("times_out", { queue: "w", maxAttempts: 2 });

const ids = new Map<string, string[]>();
const note = (k: string, id: string) => ids.set(k, [...(ids.get(k) ?? []), id]);
const got: Record<string, unknown[]> = {};
let earlyGate: (() => void) | null = null;

const events: { name: string; e: unknown }[] = [];
const client = new Client(t.connect(), {
  queues: { w: { maxWorkers: 4 } },
  ...withTimings({ maintenance: { callback_timeouts: { intervalMs: 100 } } }),
});
client.work(twoWaits, async (_job, ctx) => {
  const a = await ctx.registerCallback({ timeoutMs: 60_000 });
  note("two", a);
  const first = await ctx.waitForCallback(a);
  const b = await ctx.registerCallback({ timeoutMs: 60_000 });
  note("two", b);
  const second = await ctx.waitForCallback(b);
  got.two = [first, second];
  return { first, second };
});
client.work(early, async (_job, ctx) => {
  const id = await ctx.registerCallback({ timeoutMs: 60_000 });
  note("early", id);
  await new Promise<void>((r) => earlyGate = r);
  return await ctx.waitForCallback(id);
});
client.work(race, async (_job, ctx) => {
  const id = await ctx.registerCallback({ timeoutMs: 60_000 });
  note("race", id);
  return ctx.park(id);
});
client.work(timesOut, async (job, ctx) => {
  const id = await ctx.registerCallback({ timeoutMs: 300 });
  note(`timeout${job.attempt}`, id);
  return ctx.park(id);
});
for (const name of ["waitingForCallback", "callbackResumed", "rescued", "completed"] as const) {
  client.on(name, (e) => void events.push({ name, e }));
}
const errors: ClientEvents["error"][] = [];
client.on("error", (e) => void errors.push(e));

async function waiting(id: string): Promise<void> {
  await waitFor(`callback ${id} waiting`, async () => {
    const [row] = await sql<{ state: string }[]>`
      SELECT state::text FROM awa.attempt_state WHERE callback_id = ${id}::uuid`;
    return row?.state === "waiting_external";
  });
}

Deno.test({
  name: "start the client",
  ...POOL_TEST,
  async fn() {
    await client.start();
    await waitFor("leader", () => client.isLeader);
  },
});

Deno.test({
  name: "two sequential waits in one attempt, with a heartbeat between, each get their payload",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, twoWaits, {});
    await waitFor("first registered", () => ids.get("two")?.length === 1);
    const [a] = ids.get("two")!;
    await waiting(a);
    const hb = await heartbeatCallback(sql, a, 120_000);
    assert.equal(hb.state, "waiting_external");
    const r1 = await resumeExternal(sql, a, { step: 1 });
    assert.deepEqual(r1, { jobId: j.id, state: "running", action: "resume" });
    await assert.rejects(resumeExternal(sql, a, { step: "again" }), CallbackNotFoundError);

    await waitFor("second registered", () => ids.get("two")?.length === 2);
    const b = ids.get("two")![1];
    await waiting(b);
    await heartbeatCallback(sql, b);
    await resumeExternal(sql, b, { step: 2 });
    await waitFor("completed", async () => (await jobState(sql, j.id))?.state === "completed");
    assert.deepEqual(got.two, [{ step: 1 }, { step: 2 }]);
    const waits = events.filter((x) =>
      x.name === "waitingForCallback" &&
      (x.e as ClientEvents["waitingForCallback"]).job.id === j.id
    );
    assert.deepEqual(
      waits.map((x) => (x.e as ClientEvents["waitingForCallback"]).parked),
      [false, false],
    );
    assert.equal(
      events.filter((x) =>
        x.name === "callbackResumed" && (x.e as ClientEvents["callbackResumed"]).job.id === j.id
      ).length,
      2,
    );
  },
});

Deno.test({
  name: "a resume that arrives before the wait begins is kept for it",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, early, {});
    await waitFor("registered", () => ids.get("early")?.length === 1 && earlyGate !== null);
    const [id] = ids.get("early")!;
    const r = await resumeExternal(sql, id, "early bird");
    assert.equal(r.state, "running");
    earlyGate!();
    await waitFor("completed", async () => (await jobState(sql, j.id))?.state === "completed");
    const [{ result }] = await sql<{ result: unknown }[]>`
      SELECT result FROM awa.jobs WHERE id = ${j.id} AND state = 'completed'`;
    assert.equal(result, "early bird");
  },
});

Deno.test({
  name: "20 concurrent resolutions of one callback from 20 connections: exactly one wins",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, race, {});
    await waitFor("registered", () => ids.get("race")?.length === 1);
    const [id] = ids.get("race")!;
    await waiting(id);
    const pool = t.connect({ max: 20 });
    try {
      const results = await Promise.allSettled(
        Array.from(
          { length: 20 },
          (_, i) =>
            i % 2 === 0
              ? completeExternal(pool, id, { winner: i })
              : failExternal(pool, id, `loser ${i}`),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected");
      assert.equal(won.length, 1, "exactly one resolution applies");
      for (const r of lost) {
        assert.ok((r as PromiseRejectedResult).reason instanceof CallbackNotFoundError);
      }
      const state = (await jobState(sql, j.id))?.state;
      assert.equal(state, (won[0] as PromiseFulfilledResult<{ state: string }>).value.state);
      const [{ closures }] = await sql<{ closures: number }[]>`
        SELECT count(*)::int AS closures FROM awa.claim_closures
        WHERE outcome IN ('callback_complete', 'callback_fail')
          AND receipt_ranges @> (SELECT awa.receipt_id(b.batch_id, 0) FROM awa.claim_batches b
            WHERE ${j.id}::bigint = ANY (b.job_ids))`;
      assert.equal(closures, 1, "one closure for the attempt");
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "callback timeouts: a middle attempt retries, the last fails with reason callback_timeout",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, timesOut, {});
    await waitFor("second attempt parked", () => ids.get("timeout2")?.length === 1, 30_000);
    const [first] = ids.get("timeout1")!;
    await assert.rejects(completeExternal(sql, first), CallbackNotFoundError);
    await waitFor("failed", async () => (await jobState(sql, j.id))?.state === "failed", 30_000);
    const [row] = await sql<{ reason: string; errors: { error: string; attempt: number }[] }[]>`
      SELECT reason, errors FROM awa.dlq_entries WHERE job_id = ${j.id}`;
    assert.equal(row.reason, "callback_timeout");
    assert.deepEqual(row.errors.map((e) => [e.error, e.attempt]), [
      ["callback timed out", 1],
      ["callback timed out", 2],
    ]);
    const rescued = () =>
      events.filter((x) => x.name === "rescued")
        .map((x) => x.e as ClientEvents["rescued"]).filter((r) => r.jobId === j.id);
    await waitFor("two rescued events", () => rescued().length === 2);
    assert.deepEqual(rescued().map((r) => [r.reason, r.state]), [
      ["callback", "retryable"],
      ["callback", "failed"],
    ]);
    await assert.rejects(completeExternal(sql, ids.get("timeout2")![0]), CallbackNotFoundError);
  },
});

Deno.test({
  name: "no errors reported; stop the client",
  ...POOL_TEST,
  async fn() {
    await client.shutdown();
    assert.deepEqual(errors, []);
    await t.close();
  },
});
