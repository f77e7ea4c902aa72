/**
 * queueStats (issue 11, item 4): exact counts by state that agree with the jobs view, lifetime
 * terminal totals and the last-minute / last-hour counts unchanged when prune truncates the
 * slot that held the rows (they move to queue_terminal_counts in the same transaction), the
 * window boundaries, lag, DLQ depth, and the all-queues form.
 */
import assert from "node:assert/strict";
import { defineJob, insert, insertMany } from "../../mod.ts";
import { pause, queueStats } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { finalizeRaw, POOL_TEST, receiptOfJob, statesOf } from "../support/runtime.ts";

const t = await testDatabase("admin_queues_stats");
const sql = t.sql;

async function claim(queue: string, n: number): Promise<number[]> {
  const rows = await sql<{ job_id: number }[]>`SELECT job_id::int FROM awa.claim_batch(${queue},
    ${n}, 0, 0, ${crypto.randomUUID()}::uuid)`;
  return rows.map((r) => r.job_id);
}

async function finish(ids: number[], outcome: string): Promise<void> {
  for (const id of ids) {
    const r = await receiptOfJob(sql, id);
    assert.ok(r, `receipt of ${id}`);
    assert.equal((await finalizeRaw(sql, r, outcome)).length, 1, `${outcome} of ${id}`);
  }
}

Deno.test({
  name: "terminal totals and windows stay exact when prune truncates their slot",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("stats_done", { queue: "s_done" });
    await insertMany(sql, job, Array.from({ length: 10 }, (_, n) => ({ args: { n } })));
    const ids = await claim("s_done", 10);
    await finish(ids.slice(0, 7), "completed");
    await finish(ids.slice(7), "cancel");
    // Buckets written by earlier prunes: 2 min ago (in the hour only) and 2 h ago (in neither,
    // and reclaimed by the next prune).
    await sql`INSERT INTO awa.queue_terminal_counts (queue, state, bucket, n) VALUES
      ('s_done', 'completed', date_trunc('second', clock_timestamp()) - interval '2 minutes', 5),
      ('s_done', 'completed', date_trunc('second', clock_timestamp()) - interval '2 hours', 100)`;

    const before = await queueStats(sql, "s_done");
    assert.equal(before.counts.completed, 7);
    assert.equal(before.counts.cancelled, 3);
    assert.equal(before.completedLastMinute, 7);
    assert.equal(before.completedLastHour, 12);
    assert.equal(before.minuteFrom.getTime(), before.hourFrom.getTime() + 3_540_000);
    assert.equal(before.minuteFrom.getMilliseconds(), 0);
    assert.ok(before.measuredAt.getTime() - before.minuteFrom.getTime() >= 60_000);
    assert.ok(before.measuredAt.getTime() - before.minuteFrom.getTime() < 61_000);

    const [{ r: rotated }] = await sql`SELECT awa.rotate_ring('queue') AS r`;
    assert.equal(rotated, "rotated");
    const [{ r: pruned }] = await sql`SELECT awa.prune_ring('queue') AS r`;
    assert.equal(pruned, "pruned");
    const [{ live }] = await sql`SELECT count(*)::int AS live FROM awa.done_entries`;
    assert.equal(live, 0, "the terminal rows left the ring");

    const after = await queueStats(sql, "s_done");
    assert.deepEqual(
      [after.counts, after.completedLastMinute, after.completedLastHour],
      [before.counts, 7, 12],
    );
    const buckets = await sql`SELECT state::text, sum(n)::int AS n FROM awa.queue_terminal_counts
      WHERE queue = 's_done' GROUP BY 1 ORDER BY 1`;
    // The 2-hour-old bucket was reclaimed by the prune.
    assert.deepEqual(buckets.map((b) => [b.state, b.n]), [["cancelled", 3], ["completed", 12]]);
  },
});

Deno.test({
  name: "counts by state agree with the jobs view; lag, DLQ and held failures",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("stats_mix", { queue: "s_mix", maxAttempts: 3 });
    const t0 = Date.now();
    await insertMany(sql, job, Array.from({ length: 8 }, (_, n) => ({ args: { n } })));
    await insert(sql, job, { n: 100 }, { runAt: new Date(Date.now() + 3_600_000) });
    await insert(sql, job, { n: 101 }, { runAt: new Date(Date.now() + 3_600_000) });
    const ids = await claim("s_mix", 5);
    await finish([ids[0]], "completed");
    await finish([ids[1]], "fail");
    await finish([ids[2]], "retry");
    // ids[3] waits for a callback; ids[4] stays running.
    const r3 = await receiptOfJob(sql, ids[3]);
    await sql`INSERT INTO awa.attempt_state (job_id, run_lease, receipt_id, claim_slot, state)
      VALUES (${ids[3]}, ${r3!.run_lease}, awa.receipt_id(${r3!.batch_id}::bigint, ${r3!.idx}),
        ${r3!.claim_slot}, 'waiting_external')`;
    const [{ available_id }] = await sql`SELECT id::int AS available_id FROM awa.jobs
      WHERE queue = 's_mix' AND state = 'available' ORDER BY id LIMIT 1`;
    await sql`SELECT awa.cancel_job(${available_id})`;

    const s = await queueStats(sql, "s_mix");
    const view = await statesOf(sql, "s_mix");
    assert.deepEqual(s.counts, {
      available: view.available,
      running: view.running,
      waitingExternal: view.waiting_external,
      scheduled: view.scheduled,
      retryable: view.retryable,
      completed: view.completed,
      cancelled: view.cancelled,
      failed: view.failed,
    });
    assert.deepEqual(s.counts, {
      available: 2,
      running: 1,
      waitingExternal: 1,
      scheduled: 2,
      retryable: 1,
      completed: 1,
      cancelled: 1,
      failed: 1,
    });
    assert.equal(s.dlqDepth, 0);
    assert.equal(s.failedLastMinute, 1);
    assert.equal(s.failedLastHour, 1);
    assert.equal(s.completedLastMinute, 1);
    assert.equal(s.enqueueShards, 4);
    assert.ok(s.lagSeconds !== null && s.lagSeconds >= 0);
    assert.ok(s.lagSeconds! <= (Date.now() - t0) / 1000 + 1, `lag ${s.lagSeconds}`);

    // A queue with the DLQ on: an exhausted job is DLQ depth, not `failed`.
    await sql`INSERT INTO awa.queue_meta (queue, dlq_enabled) VALUES ('s_dlq', true)`;
    const dlqJob = defineJob<{ n: number }>("stats_dlq", { queue: "s_dlq" });
    await insert(sql, dlqJob, { n: 1 });
    await finish(await claim("s_dlq", 1), "fail");
    const d = await queueStats(sql, "s_dlq");
    assert.equal(d.dlqDepth, 1);
    assert.equal(d.counts.failed, 0);
    assert.equal(d.failedLastMinute, 1);
    assert.equal(d.lagSeconds, null);
  },
});

Deno.test({
  name: "every known queue, in name order; an unknown queue reports zeros",
  ...POOL_TEST,
  async fn() {
    await pause(sql, "s_empty_paused");
    const all = await queueStats(sql);
    assert.deepEqual(all.map((s) => s.queue), ["s_dlq", "s_done", "s_empty_paused", "s_mix"]);
    const one = await queueStats(sql, "s_mix");
    const listed = all.find((s) => s.queue === "s_mix")!;
    assert.deepEqual(listed.counts, one.counts);
    assert.equal(all.find((s) => s.queue === "s_empty_paused")!.paused, true);
    const none = await queueStats(sql, "never_used");
    assert.equal(none.paused, false);
    assert.deepEqual(Object.values(none.counts), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(none.completedLastHour, 0);
  },
});

Deno.test({ name: "close admin_queues_stats database", ...POOL_TEST, fn: () => t.close() });
