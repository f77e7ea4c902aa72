/**
 * Handler outcomes and their events: complete, retry with backoff, terminal failure, exhaustion,
 * snooze, cancel, retryAfter, admin cancel of a running job, unknown kind, the DLQ round trip,
 * and deadline rescue by the leader.
 */
import assert from "node:assert/strict";
import {
  Client,
  type ClientEvents,
  DeadlineExceededError,
  defineJob,
  insert,
  JobCancelledError,
  TerminalError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_outcomes");
const sql = t.sql;

type Ev = { type: string; id: number; attempt: number; runLease: number; at: number; e: unknown };
const events: Ev[] = [];
const errors: ClientEvents["error"][] = [];

function record(c: Client) {
  for (
    const type of [
      "completed",
      "retried",
      "snoozed",
      "cancelled",
      "failed",
      "exhausted",
      "stale",
    ] as const
  ) {
    c.on(type, (e) => {
      const job = (e as { job: { id: number; attempt: number; runLease: number } }).job;
      events.push({
        type,
        id: job.id,
        attempt: job.attempt,
        runLease: job.runLease,
        at: Date.now(),
        e,
      });
    });
  }
  c.on("rescued", (e) => {
    events.push({
      type: "rescued",
      id: e.jobId,
      attempt: 0,
      runLease: e.runLease,
      at: Date.now(),
      e,
    });
  });
  c.on("error", (e) => void errors.push(e));
}

function eventsOf(id: number): Ev[] {
  return events.filter((e) => e.id === id);
}

function waitEvent(type: string, id: number, n = 1, timeoutMs = 20_000): Promise<Ev[]> {
  return waitFor(`${n} × ${type} of job ${id}`, () => {
    const hits = events.filter((e) => e.type === type && e.id === id);
    return hits.length >= n ? hits : null;
  }, timeoutMs);
}

async function errorsOf(
  id: number,
): Promise<{ error: string; attempt: number; terminal?: boolean }[]> {
  const [{ errs }] = await sql<{ errs: { error: string; attempt: number }[] | null }[]>`
    SELECT errors AS errs FROM awa.jobs WHERE id = ${id} ORDER BY run_lease DESC LIMIT 1`;
  return errs ?? [];
}

const ok = defineJob<{ v: number }>("ok", { queue: "out" });
const boom = defineJob<unknown>("boom", { queue: "out" });
const term = defineJob<unknown>("term", { queue: "out" });
const exh = defineJob<unknown>("exh", { queue: "out", maxAttempts: 1 });
const snz = defineJob<unknown>("snz", { queue: "out" });
const cxl = defineJob<unknown>("cxl", { queue: "out" });
const rafter = defineJob<unknown>("rafter", { queue: "out" });
const adminCancel = defineJob<unknown>("admin_cancel", { queue: "out" });
const nobody = defineJob<unknown>("nobody", { queue: "out" });
const overdue = defineJob<unknown>("overdue", { queue: "dead" });
const dl = defineJob<unknown>("dl", { queue: "dlqq", maxAttempts: 1 });

const seen = new Map<string, number[]>();
const note = (k: string, attempt: number) => seen.set(k, [...(seen.get(k) ?? []), attempt]);
let adminSignal: AbortSignal | null = null;
let overdueReason: unknown = null;

const main = new Client(t.connect(), {
  queues: { out: {}, dead: { deadlineMs: 300 } },
  ...TIMINGS,
});
main.work(ok, (job) => ({ doubled: job.args.v * 2 }));
main.work(boom, (job) => {
  note("boom", job.attempt);
  if (job.attempt === 1) throw new Error("kaboom");
  return "recovered";
});
main.work(term, () => {
  throw new TerminalError("no point retrying");
});
main.work(exh, () => {
  throw new Error("always fails");
});
main.work(snz, (job, ctx) => {
  note("snz", job.attempt);
  return (seen.get("snz")!.length === 1) ? ctx.snooze(100) : "after snooze";
});
main.work(cxl, (_job, ctx) => ctx.cancel("not needed"));
main.work(rafter, (job, ctx) => (job.attempt === 1 ? ctx.retryAfter(1500) : "later"));
let adminReturned = false;
main.work(adminCancel, async (_job, ctx) => {
  adminSignal = ctx.signal;
  await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
  adminReturned = true;
  return "late";
});
main.work(overdue, async (job, ctx) => {
  note("overdue", job.attempt);
  if (job.attempt === 1) {
    ctx.signal.addEventListener("abort", () => overdueReason = ctx.signal.reason);
    await sleep(1500); // ignores the signal
    return "too late";
  }
  return "in time";
});
record(main);

const dlqClient = new Client(t.connect(), {
  queues: { dlqq: {} },
  ...TIMINGS,
  dlqEnabledByDefault: true,
  maintenance: false,
});
dlqClient.work(dl, (job) => {
  note("dl", job.attempt);
  if (seen.get("dl")!.length === 1) throw new Error("first run fails");
  return "second life";
});
record(dlqClient);

Deno.test({
  name: "start clients",
  ...POOL_TEST,
  async fn() {
    await main.start();
    await dlqClient.start();
    await waitFor("main leads", () => main.isLeader);
  },
});

Deno.test({
  name: "return value completes",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, ok, { v: 21 });
    const [ev] = await waitEvent("completed", j.id);
    assert.deepEqual((ev.e as ClientEvents["completed"]).result, { doubled: 42 });
    const [{ result, state }] =
      await sql`SELECT result, state::text FROM awa.jobs WHERE id = ${j.id}`;
    assert.equal(state, "completed");
    assert.deepEqual(result, { doubled: 42 });
  },
});

Deno.test({
  name: "thrown Error retries with backoff, errors recorded, then completes",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, boom, {});
    const [r] = await waitEvent("retried", j.id);
    const runAt = (r.e as ClientEvents["retried"]).runAt!;
    // Backoff after attempt 1 is 2 s plus up to 25 % jitter.
    const delay = runAt.getTime() - r.at;
    assert.ok(delay > 1500 && delay < 3000, `delay ${delay}`);
    const st = await jobState(sql, j.id);
    assert.ok(st && ["retryable", "available", "running", "completed"].includes(st.state));
    if (st.state === "retryable") assert.equal(st.attempt, 1);
    const errs = await errorsOf(j.id);
    assert.equal(errs.length, 1);
    assert.match(errs[0].error, /kaboom/);
    assert.equal(errs[0].attempt, 1);
    const [c] = await waitEvent("completed", j.id);
    assert.equal(c.attempt, 2);
    assert.deepEqual(seen.get("boom"), [1, 2]);
  },
});

Deno.test({
  name: "TerminalError fails for good; maxAttempts exhausted; unknown kind fails terminally",
  ...POOL_TEST,
  async fn() {
    const a = await insert(sql, term, {});
    const b = await insert(sql, exh, {});
    const c = await insert(sql, nobody, {});
    const [fa] = await waitEvent("failed", a.id);
    assert.match((fa.e as ClientEvents["failed"]).error, /no point retrying/);
    assert.equal((fa.e as ClientEvents["failed"]).dlq, false);
    const [eb] = await waitEvent("exhausted", b.id);
    assert.match((eb.e as ClientEvents["exhausted"]).error, /always fails/);
    const [fc] = await waitEvent("failed", c.id);
    assert.match((fc.e as ClientEvents["failed"]).error, /unknown job kind: nobody/);
    for (const id of [a.id, b.id, c.id]) {
      const st = await jobState(sql, id);
      assert.equal(st?.state, "failed");
      assert.equal(st?.held, "failed");
      assert.equal(eventsOf(id).length, 1, JSON.stringify(eventsOf(id).map((e) => e.type)));
    }
    assert.equal((await errorsOf(a.id))[0].terminal, true);
  },
});

Deno.test({
  name: "snooze does not count an attempt; cancel cancels; retryAfter sets runAt",
  ...POOL_TEST,
  async fn() {
    const s = await insert(sql, snz, {});
    const x = await insert(sql, cxl, {});
    const r = await insert(sql, rafter, {});
    await waitEvent("snoozed", s.id);
    const [sc] = await waitEvent("completed", s.id);
    assert.deepEqual(seen.get("snz"), [1, 1], "the snoozed attempt is not counted");
    assert.equal(sc.runLease, 2);
    const [cc] = await waitEvent("cancelled", x.id);
    assert.equal((cc.e as ClientEvents["cancelled"]).reason, "not needed");
    assert.equal((await jobState(sql, x.id))?.state, "cancelled");
    // The handler's own cancel also sends a cancel notice; it must not add a second event.
    await sleep(200);
    assert.deepEqual(eventsOf(x.id).map((e) => e.type), ["cancelled"]);
    const [rr] = await waitEvent("retried", r.id);
    const delay = (rr.e as ClientEvents["retried"]).runAt!.getTime() - rr.at;
    assert.ok(delay > 1000 && delay <= 1600, `retryAfter(1500) gave ${delay} ms`);
    const [rc] = await waitEvent("completed", r.id);
    assert.equal(rc.attempt, 2);
  },
});

Deno.test({
  name: "admin cancel of a running job aborts with JobCancelledError and emits cancelled once",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, adminCancel, {});
    await waitFor("running", async () => (await jobState(sql, j.id))?.state === "running");
    const [{ s }] = await sql`SELECT awa.cancel_job(${j.id}) AS s`;
    assert.equal(s, "cancelled");
    await waitFor("signal aborted", () => adminSignal?.aborted);
    assert.ok(adminSignal!.reason instanceof JobCancelledError, String(adminSignal!.reason));
    assert.equal(adminSignal!.reason.code, "JOB_CANCELLED");
    const [c] = await waitEvent("cancelled", j.id);
    assert.equal(c.runLease, 1);
    // The handler returns right after the abort; its dropped completion must not add `stale`.
    await waitFor("late completion dropped", () => adminReturned);
    await waitFor("attempt untracked", () => main.stats().running === 0);
    await sleep(200);
    assert.equal((await jobState(sql, j.id))?.state, "cancelled");
    assert.deepEqual(eventsOf(j.id).map((e) => e.type), ["cancelled"]);
  },
});

Deno.test({
  name: "DLQ: exhausted job is held as dlq; retry_held brings it back with attempt 0",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, dl, {});
    const [ex] = await waitEvent("exhausted", j.id);
    assert.equal((ex.e as ClientEvents["exhausted"]).dlq, true);
    const [held] = await sql`SELECT hold_kind, attempt FROM awa.dlq_entries WHERE job_id = ${j.id}`;
    assert.equal(held.hold_kind, "dlq");
    assert.equal(held.attempt, 1);
    const [{ id }] = await sql`SELECT awa.retry_held(${j.id}) AS id`;
    assert.equal(Number(id), j.id);
    const [{ n }] =
      await sql`SELECT count(*)::int AS n FROM awa.dlq_entries WHERE job_id = ${j.id}`;
    assert.equal(n, 0);
    const [c] = await waitEvent("completed", j.id);
    assert.equal(c.attempt, 1, "attempt counting restarted from 0");
    assert.equal(c.runLease, 1);
    assert.deepEqual(seen.get("dl"), [1, 1]);
    assert.equal((await jobState(sql, j.id))?.state, "completed");
  },
});

Deno.test({
  name: "deadline rescue: the leader closes an overdue attempt; the job retries and completes",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, overdue, {});
    const [r] = await waitEvent("rescued", j.id);
    const re = r.e as ClientEvents["rescued"];
    assert.equal(re.reason, "deadline");
    assert.equal(re.runLease, 1);
    assert.equal(re.state, "retryable");
    const [c] = await waitEvent("completed", j.id);
    assert.equal(c.attempt, 2);
    assert.ok(overdueReason instanceof DeadlineExceededError, String(overdueReason));
    assert.equal(overdueReason.code, "DEADLINE_EXCEEDED");
    assert.equal(overdueReason.deadlineMs, 300);
    // The overdue first attempt finishes late: stale, nothing written.
    const [st] = await waitEvent("stale", j.id);
    assert.equal(st.runLease, 1);
    assert.deepEqual(seen.get("overdue"), [1, 2]);
    const errs = await errorsOf(j.id);
    assert.match(errs[0].error, /deadline/);
    assert.equal((await jobState(sql, j.id))?.state, "completed");
  },
});

Deno.test({
  name: "no internal errors; shut down",
  ...POOL_TEST,
  async fn() {
    await main.shutdown({ timeoutMs: 2000 });
    await dlqClient.shutdown({ timeoutMs: 2000 });
    assert.deepEqual(errors, []);
    await t.close();
  },
});
