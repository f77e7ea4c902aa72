/**
 * cancelJob, retryJob, their bulk forms and drain: every state they apply to, a running job
 * cancelled end to end through a real Client (its handler's signal aborts, `cancelled` fires,
 * its late completion is refused), the caller's transaction (commit and rollback), the bulk
 * guard, and bad input that writes nothing.
 */
import assert from "node:assert/strict";
import {
  Client,
  defineJob,
  insert,
  insertMany,
  JobNotFoundError,
  JobStateError,
  ValidationError,
} from "../../mod.ts";
import { cancelJob, cancelJobs, drain, getJob, retryJob, retryJobs } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";
import { claimAndFinalize, claimOnly, snapshot } from "./support.ts";

const t = await testDatabase("admin_cancel_retry");
const sql = t.sql;
const state = async (id: number) => (await getJob(sql, id)).state;

Deno.test("cancelJob cancels queued, scheduled and claimed jobs", POOL_TEST, async () => {
  const def = defineJob<{ n: number }>("cancel_each", { queue: "cancel_each" });
  const ready = await insert(sql, def, { n: 1 });
  const later = await insert(sql, def, { n: 2 }, { runAt: new Date(Date.now() + 9e6) });
  assert.equal(await cancelJob(sql, ready.id, { reason: "not needed" }), true);
  assert.equal(await cancelJob(sql, later.id), true);
  const c = await getJob(sql, ready.id);
  assert.equal(c.state, "cancelled");
  assert.equal(c.attempts.at(-1)?.error, "cancelled: not needed");
  assert.equal(await state(later.id), "cancelled");
  assert.equal(await cancelJob(sql, ready.id), false, "already cancelled: nothing to do");

  const run = await insert(sql, def, { n: 3 });
  await claimOnly(sql, "cancel_each");
  assert.equal(await cancelJob(sql, run.id), true);
  assert.equal(await state(run.id), "cancelled");
  await assert.rejects(cancelJob(sql, 987_654_321), JobNotFoundError);
});

Deno.test("a running handler is aborted within a second and its late result refused", {
  ...POOL_TEST,
  sanitizeOps: false,
}, async () => {
  const def = defineJob<{ n: number }>("cancel_running", { queue: "cancel_running" });
  const client = new Client(t.url, { queues: { cancel_running: { maxWorkers: 2 } }, ...TIMINGS });
  let started!: () => void;
  const running = new Promise<void>((r) => started = r);
  let abortedAt = 0;
  const events: string[] = [];
  client.work(def, async (_job, ctx) => {
    started();
    await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
    abortedAt = Date.now();
    return { late: true };
  });
  client.on("cancelled", ({ job }) => events.push(`cancelled:${job.id}`));
  client.on("completed", ({ job }) => events.push(`completed:${job.id}`));
  await client.start();
  try {
    const j = await insert(sql, def, { n: 1 });
    await running;
    const cancelledAt = Date.now();
    assert.equal(await cancelJob(sql, j.id), true);
    await waitFor("signal aborted", () => abortedAt > 0, 5000);
    assert.ok(abortedAt - cancelledAt < 1000, `aborted after ${abortedAt - cancelledAt} ms`);
    await waitFor("cancelled event", () => events.includes(`cancelled:${j.id}`), 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(events, [`cancelled:${j.id}`], "no completion for a cancelled job");
    assert.equal(await state(j.id), "cancelled");
  } finally {
    await client.shutdown({ timeoutMs: 5000 });
  }
});

Deno.test(
  "cancelJob in the caller's transaction: commits and rolls back with it",
  POOL_TEST,
  async () => {
    const def = defineJob<{ n: number }>("cancel_tx", { queue: "cancel_tx" });
    const a = await insert(sql, def, { n: 1 });
    const b = await insert(sql, def, { n: 2 });
    await sql`CREATE TABLE IF NOT EXISTS app_audit (job bigint)`;
    await sql.begin(async (tx) => {
      assert.equal(await cancelJob(tx, a.id), true);
      await tx`INSERT INTO app_audit VALUES (${a.id})`;
    });
    assert.equal(await state(a.id), "cancelled");
    await assert.rejects(
      sql.begin(async (tx) => {
        assert.equal(await cancelJob(tx, b.id), true);
        await tx`INSERT INTO app_audit VALUES (${b.id})`;
        throw new Error("app fails");
      }),
      /app fails/,
    );
    assert.equal(await state(b.id), "available", "rolled back with the caller");
    const audit = await sql`SELECT job FROM app_audit ORDER BY job`;
    assert.deepEqual(audit.map((r) => Number(r.job)), [a.id]);
  },
);

Deno.test(
  "retryJob: failed and DLQ jobs in place, cancelled ones as a copy",
  POOL_TEST,
  async () => {
    const q = "retry_one";
    const def = defineJob<{ n: number }>("retry_one", { queue: q, maxAttempts: 1 });
    const failed = await insert(sql, def, { n: 1 });
    assert.deepEqual(await claimAndFinalize(sql, q, "retry"), ["failed"]);
    assert.equal(await retryJob(sql, failed.id, { priority: 1, queue: "retry_other" }), failed.id);
    const back = await getJob(sql, failed.id);
    assert.equal(back.state, "available");
    assert.equal(back.attempt, 0, "attempt reset");
    assert.equal(back.queue, "retry_other");
    assert.equal(back.priority, 1);
    assert.equal(back.attempts.length, 1, "the failed attempt's error is kept");

    const dlq = await insert(sql, def, { n: 2 });
    assert.deepEqual(await claimAndFinalize(sql, q, "fail", { dlq: true }), ["failed"]);
    assert.equal((await getJob(sql, dlq.id)).hold?.kind, "dlq");
    const runAt = new Date(Date.now() + 3_600_000);
    assert.equal(await retryJob(sql, dlq.id, { runAt }), dlq.id);
    assert.equal(await state(dlq.id), "scheduled");

    const cancelled = await insert(sql, def, { n: 3 }, { tags: ["t"] });
    await cancelJob(sql, cancelled.id);
    const copy = await retryJob(sql, cancelled.id);
    assert.notEqual(copy, cancelled.id);
    const c = await getJob(sql, copy);
    assert.equal(c.state, "available");
    assert.deepEqual(c.args, { n: 3 });
    assert.deepEqual(c.tags, ["t"]);
    assert.equal(await state(cancelled.id), "cancelled", "the cancelled record stays");

    await assert.rejects(retryJob(sql, copy), (e) => {
      assert.ok(e instanceof JobStateError);
      assert.equal(e.code, "JOB_STATE");
      assert.equal(e.state, "available");
      return true;
    });
    await assert.rejects(retryJob(sql, 987_654_321), JobNotFoundError);
  },
);

Deno.test("bulk cancel and retry: guard, filters, counts", POOL_TEST, async () => {
  const q = "bulk";
  const a = defineJob<{ n: number }>("bulk_a", { queue: q, maxAttempts: 1 });
  const b = defineJob<{ n: number }>("bulk_b", { queue: q });
  await insertMany(sql, a, Array.from({ length: 30 }, (_, n) => ({ args: { n } })));
  await insertMany(sql, b, Array.from({ length: 5 }, (_, n) => ({ args: { n } })));

  const before = await snapshot(sql);
  const invalid = (field: string) => (e: unknown) =>
    e instanceof ValidationError && e.field === field;
  await assert.rejects(cancelJobs(sql, {}), invalid("opts"));
  await assert.rejects(cancelJobs(sql, { all: false as never }), invalid("opts.all"));
  await assert.rejects(cancelJobs(sql, { all: true, kind: "bulk_a" }), invalid("opts.all"));
  await assert.rejects(cancelJobs(sql, { state: "completed" }), invalid("opts.state"));
  await assert.rejects(
    cancelJobs(sql, { kind: "bulk_a", batchSize: 0 }),
    invalid("opts.batchSize"),
  );
  await assert.rejects(retryJobs(sql, {}), invalid("opts"));
  await assert.rejects(
    retryJobs(sql, { all: true, to: { priority: 9 } }),
    invalid("opts.to.priority"),
  );
  await assert.rejects(drain(sql, "bad queue!"), invalid("queue"));
  assert.equal(await snapshot(sql), before, "nothing written on bad input");

  const r = await cancelJobs(sql, { kind: "bulk_a", batchSize: 7 });
  assert.equal(r.count, 30);
  assert.equal(r.batches, 5);
  assert.equal((await cancelJobs(sql, { kind: "bulk_a" })).count, 0, "nothing left to cancel");

  const again = await retryJobs(sql, {
    kind: "bulk_a",
    state: "cancelled",
    to: { queue: "bulk2" },
  });
  assert.equal(again.count, 30);
  assert.deepEqual(await claimAndFinalize(sql, "bulk2", "fail"), Array(30).fill("failed"));
  const held = await retryJobs(sql, { queue: "bulk2", state: "failed" });
  assert.equal(held.count, 30, "held failures retried in place");
  assert.equal((await cancelJobs(sql, { queue: "bulk2" })).count, 30);
  const [{ live }] = await sql`SELECT count(*)::int AS live FROM awa.jobs
    WHERE state IN ('available', 'running', 'scheduled', 'retryable', 'waiting_external')`;
  assert.ok(live >= 5);
  assert.equal((await cancelJobs(sql, { all: true })).count, live, "all: every live job");
});

Deno.test("drain cancels all pending work of one queue", POOL_TEST, async () => {
  const q = "drain_me";
  const def = defineJob<{ n: number }>("drain_job", { queue: q });
  await insertMany(sql, def, Array.from({ length: 12 }, (_, n) => ({ args: { n } })));
  await insert(sql, def, { n: 99 }, { runAt: new Date(Date.now() + 9e6) });
  const other = await insert(sql, def, { n: 100 }, { queue: "drain_other" });
  const [running] = await claimOnly(sql, q, 1);
  const r = await drain(sql, q, { batchSize: 5 });
  assert.equal(r.count, 12, "11 queued and 1 scheduled");
  assert.equal(await state(running), "running", "running attempts are left to finish");
  assert.equal(await state(other.id), "available", "other queues untouched");
  assert.equal((await drain(sql, q)).count, 0);
});

Deno.test("close database", POOL_TEST, () => t.close());
