/**
 * Parked jobs: a handler registers a callback and returns `ctx.park(id)`; the job waits in
 * `waiting_external` without a worker slot, and any process completes, fails or retries it.
 * Also: events, the contract violation, not-found ids, admin visibility and cancel.
 */
import assert from "node:assert/strict";
import {
  admin,
  CallbackNotFoundError,
  cancelCallback,
  Client,
  type ClientEvents,
  completeExternal,
  defineJob,
  failExternal,
  heartbeatCallback,
  insert,
  resumeExternal,
  retryExternal,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("callbacks_park");
const sql = t.sql;

const parkJob = defineJob<{ tag: string }>("park_job", { queue: "cb", maxAttempts: 3 });
const quick = defineJob<{ n: number }>("quick", { queue: "cb" });
const noCallback = defineJob<unknown>("no_callback", { queue: "cb" });

/** Callback ids handed out by parked handlers, by the job's tag. */
const ids = new Map<string, string[]>();
const quickRuns: number[] = [];
let parkedHandlersRunning = 0;

const events: { name: string; e: unknown }[] = [];
const client = new Client(t.connect(), { queues: { cb: { maxWorkers: 1 } }, ...TIMINGS });
client.work(parkJob, async (job, ctx) => {
  parkedHandlersRunning++;
  try {
    const id = await ctx.registerCallback({ timeoutMs: 60_000 });
    ids.set(job.args.tag, [...(ids.get(job.args.tag) ?? []), id]);
    return ctx.park(id);
  } finally {
    parkedHandlersRunning--;
  }
});
client.work(quick, (job) => {
  quickRuns.push(job.args.n);
  return { n: job.args.n };
});
client.work(
  noCallback,
  (_job, ctx) => ctx.park("7d9f6a10-0c4e-4b8e-9a51-1f2e3d4c5b6a"),
);
for (
  const name of ["waitingForCallback", "callbackResolved", "completed", "failed"] as const
) {
  client.on(name, (e) => void events.push({ name, e }));
}
const errors: ClientEvents["error"][] = [];
client.on("error", (e) => void errors.push(e));

async function parked(tag: string): Promise<string> {
  return await waitFor(`job ${tag} parked`, async () => {
    const id = ids.get(tag)?.at(-1);
    if (id === undefined) return null;
    const [row] = await sql<{ state: string }[]>`
      SELECT state::text FROM awa.attempt_state WHERE callback_id = ${id}::uuid`;
    return row?.state === "waiting_external" ? id : null;
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
  name: "a parked job frees its only worker slot: a second job runs while it waits",
  ...POOL_TEST,
  async fn() {
    const p = await insert(sql, parkJob, { tag: "slot" });
    const id = await parked("slot");
    assert.equal(parkedHandlersRunning, 0, "the parking handler has returned");
    const q = await insert(sql, quick, { n: 1 });
    await waitFor("quick job done", async () => (await jobState(sql, q.id))?.state === "completed");
    assert.deepEqual(quickRuns, [1]);
    assert.equal((await jobState(sql, p.id))?.state, "waiting_external");
    await waitFor(
      "waitingForCallback event",
      () =>
        events.some((x) =>
          x.name === "waitingForCallback" &&
          (x.e as ClientEvents["waitingForCallback"]).callbackId === id &&
          (x.e as ClientEvents["waitingForCallback"]).parked
        ),
    );

    const done = await completeExternal(sql, id, { receipt: "r-1" });
    assert.deepEqual(done, { jobId: p.id, state: "completed", action: "complete" });
    const [{ result }] = await sql<{ result: unknown }[]>`
      SELECT result FROM awa.jobs WHERE id = ${p.id} AND state = 'completed'`;
    assert.deepEqual(result, { receipt: "r-1" });
    await waitFor(
      "callbackResolved event",
      () =>
        events.some((x) =>
          x.name === "callbackResolved" &&
          (x.e as ClientEvents["callbackResolved"]).callbackId === id &&
          (x.e as ClientEvents["callbackResolved"]).action === "complete"
        ),
    );
  },
});

Deno.test({
  name: "a second completion, a random id and a malformed id: typed errors, nothing written",
  ...POOL_TEST,
  async fn() {
    const p = await insert(sql, parkJob, { tag: "twice" });
    const id = await parked("twice");
    await completeExternal(sql, id, "first");
    await assert.rejects(
      completeExternal(sql, id, "second"),
      (e: unknown) => e instanceof CallbackNotFoundError && e.code === "CALLBACK_NOT_FOUND",
    );
    await assert.rejects(failExternal(sql, id, "late"), CallbackNotFoundError);
    await assert.rejects(heartbeatCallback(sql, id), CallbackNotFoundError);
    await assert.rejects(completeExternal(sql, crypto.randomUUID()), CallbackNotFoundError);
    await assert.rejects(resumeExternal(sql, crypto.randomUUID(), 1), CallbackNotFoundError);
    await assert.rejects(completeExternal(sql, "not-a-uuid"), ValidationError);
    await assert.rejects(
      failExternal(sql, crypto.randomUUID(), ""),
      (e: unknown) => e instanceof ValidationError && e.field === "error",
    );
    await assert.rejects(
      heartbeatCallback(sql, crypto.randomUUID(), -5),
      (e: unknown) => e instanceof ValidationError && e.field === "timeoutMs",
    );
    await assert.rejects(
      completeExternal(sql, crypto.randomUUID(), { bad: 1n }),
      (e: unknown) => e instanceof ValidationError,
    );
    const [{ result }] = await sql<{ result: unknown }[]>`
      SELECT result FROM awa.jobs WHERE id = ${p.id} AND state = 'completed'`;
    assert.equal(result, "first", "the second completion changed nothing");
  },
});

Deno.test({
  name:
    "failExternal fails a parked job; resuming a parked job is refused; retryExternal resets it",
  ...POOL_TEST,
  async fn() {
    const f = await insert(sql, parkJob, { tag: "fail" });
    const fid = await parked("fail");
    await assert.rejects(resumeExternal(sql, fid, {}), ValidationError);
    assert.equal(
      (await jobState(sql, f.id))?.state,
      "waiting_external",
      "refused resume wrote nothing",
    );
    assert.deepEqual(await failExternal(sql, fid, "card declined"), {
      jobId: f.id,
      state: "failed",
      action: "fail",
    });
    const [{ errors: errs }] = await sql<{ errors: { error: string; terminal?: boolean }[] }[]>`
      SELECT errors FROM awa.jobs WHERE id = ${f.id}`;
    assert.equal(errs.at(-1)?.error, "card declined");
    assert.equal(errs.at(-1)?.terminal, true);

    const r = await insert(sql, parkJob, { tag: "retry" });
    const rid = await parked("retry");
    const res = await retryExternal(sql, rid);
    assert.equal(res.jobId, r.id);
    assert.equal(res.action, "retry");
    // It runs again from a fresh budget (attempt 1 again) and parks on a new callback.
    await waitFor("parked again", () => (ids.get("retry")?.length ?? 0) >= 2);
    const again = await parked("retry");
    assert.notEqual(again, rid);
    const [{ attempt }] = await sql<{ attempt: number }[]>`
      SELECT attempt FROM awa.jobs WHERE id = ${r.id}`;
    assert.equal(attempt, 1, "retryExternal resets the attempt budget");
    await assert.rejects(completeExternal(sql, rid), CallbackNotFoundError, "the old id is stale");
    await completeExternal(sql, again);
  },
});

Deno.test({
  name: "parking on an unregistered callback fails the job with the contract violation",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, noCallback, {});
    await waitFor("failed", async () => (await jobState(sql, j.id))?.state === "failed");
    const [{ errors: errs }] = await sql<{ errors: { error: string }[] }[]>`
      SELECT errors FROM awa.jobs WHERE id = ${j.id}`;
    assert.match(errs.at(-1)!.error, /^wait_for_callback_contract_violation/);
    await waitFor(
      "failed event",
      () =>
        events.some((x) => x.name === "failed" && (x.e as ClientEvents["failed"]).job.id === j.id),
    );
  },
});

Deno.test({
  name:
    "admin: a parked job is listed with its callback, heartbeats move its timeout, cancel ends it",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, parkJob, { tag: "admin" });
    const id = await parked("admin");
    const rec = await admin.getJob(sql, j.id);
    assert.equal(rec.state, "waiting_external");
    assert.equal(rec.callbackId, id);
    assert.ok(rec.callbackTimeoutAt instanceof Date);
    const before = rec.callbackTimeoutAt!.getTime();
    const page = await admin.listJobs(sql, { state: "waiting_external" });
    assert.ok(page.items.some((x) => x.id === j.id));

    const hb = await heartbeatCallback(sql, id, 2 * 3_600_000);
    assert.deepEqual(hb, { jobId: j.id, state: "waiting_external", action: "heartbeat" });
    const later = (await admin.getJob(sql, j.id)).callbackTimeoutAt!.getTime();
    assert.ok(later > before + 3_000_000, "the timeout moved about an hour later");

    await admin.cancelJob(sql, j.id);
    assert.equal((await admin.getJob(sql, j.id)).state, "cancelled");
    await assert.rejects(completeExternal(sql, id), CallbackNotFoundError);
  },
});

Deno.test({
  name: "admin retryJob of a parked job runs it again; cancelCallback retries a parked job",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, parkJob, { tag: "admin_retry" });
    const id = await parked("admin_retry");
    assert.equal(await admin.retryJob(sql, j.id), j.id);
    await waitFor("parked again", () => (ids.get("admin_retry")?.length ?? 0) >= 2);
    const second = await parked("admin_retry");
    await assert.rejects(completeExternal(sql, id), CallbackNotFoundError);

    const res = await cancelCallback(sql, second);
    assert.equal(res.state, "retryable");
    await assert.rejects(completeExternal(sql, second), CallbackNotFoundError);
    const [{ errors: errs }] = await sql<{ errors: { error: string }[] }[]>`
      SELECT errors FROM awa.jobs WHERE id = ${j.id}`;
    assert.equal(errs.at(-1)!.error, "callback cancelled");
    // The job runs again after its backoff and parks once more.
    await waitFor("parked a third time", () => (ids.get("admin_retry")?.length ?? 0) >= 3);
    await completeExternal(sql, await parked("admin_retry"));
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
