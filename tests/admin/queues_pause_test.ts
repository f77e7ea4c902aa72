/**
 * pause / resume (issue 11, item 4): nothing of a paused queue is claimed or promoted, inserts
 * still land, resume wakes a Client at once through its notification (the client's poll is an
 * hour, so only the notice can wake it), and both work inside the caller's transaction.
 * Bad input is a ValidationError with nothing written.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, insertMany, ValidationError } from "../../mod.ts";
import { pause, queueStats, resume } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("admin_queues_pause");
const sql = t.sql;

const claimCount = async (queue: string) => {
  const rows = await sql`SELECT job_id FROM awa.claim_batch(${queue}, 100, 0, 0,
    ${crypto.randomUUID()}::uuid)`;
  return rows.length;
};
const metaRows = async () =>
  (await sql`SELECT queue, paused FROM awa.queue_meta ORDER BY queue`)
    .map((r) => `${r.queue}:${r.paused}`);

Deno.test({
  name: "bad queue names and options are ValidationErrors and write nothing",
  ...POOL_TEST,
  async fn() {
    const before = await metaRows();
    for (
      const bad of [
        () => pause(sql, "bad queue!"),
        () => pause(sql, ""),
        () => pause(sql, "x".repeat(60)),
        () => pause(sql, 42 as unknown as string),
        () => resume(sql, "ok", { shema: "awa" } as unknown as { schema: string }),
        () => pause(sql, "ok", { schema: "Bad-Schema" }),
        () => queueStats(sql, "no spaces allowed"),
      ]
    ) {
      await assert.rejects(bad, ValidationError);
    }
    assert.deepEqual(await metaRows(), before);
  },
});

Deno.test({
  name: "a paused queue is neither claimed nor promoted; resume releases both",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pause_raw", { queue: "p_raw" });
    assert.deepEqual(await pause(sql, "p_raw"), { queue: "p_raw", paused: true, changed: true });
    assert.deepEqual(await pause(sql, "p_raw"), { queue: "p_raw", paused: true, changed: false });
    await insertMany(sql, job, [{ args: { n: 1 } }, { args: { n: 2 } }]);
    await insert(sql, job, { n: 3 }, { runAt: new Date(Date.now() + 200) });
    await sleep(300);
    assert.equal(await claimCount("p_raw"), 0);
    const [{ promoted }] = await sql`SELECT awa.promote_due() AS promoted`;
    assert.equal(promoted, 0);
    const stats = await queueStats(sql, "p_raw");
    assert.equal(stats.paused, true);
    assert.equal(stats.counts.available, 2);
    assert.equal(stats.counts.scheduled, 1);

    assert.equal((await resume(sql, "p_raw")).changed, true);
    const [{ again }] = await sql`SELECT awa.promote_due() AS again`;
    assert.equal(again, 1);
    assert.equal(await claimCount("p_raw"), 3);
    assert.equal((await queueStats(sql, "p_raw")).paused, false);
  },
});

Deno.test({
  name: "pause and resume commit and roll back with the caller's transaction",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pause_tx", { queue: "p_tx" });
    await insert(sql, job, { n: 1 });
    await assert.rejects(
      sql.begin(async (tx) => {
        await pause(tx, "p_tx");
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.equal((await queueStats(sql, "p_tx")).paused, false);
    await sql.begin(async (tx) => {
      await pause(tx, "p_tx");
      // Another session does not see the pause before commit.
      assert.equal((await queueStats(sql, "p_tx")).paused, false);
    });
    assert.equal(await claimCount("p_tx"), 0);
    await sql.begin((tx) => resume(tx, "p_tx"));
    assert.equal(await claimCount("p_tx"), 1);
  },
});

Deno.test({
  name: "a running client stops claiming at pause and resumes at once on the notification",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pause_live", { queue: "p_live" });
    const client = new Client(t.url, {
      // An hour between polls: after the first claim only a notification wakes the dispatcher.
      queues: { p_live: { maxWorkers: 4, pollIntervalMs: 3_600_000 } },
      ...TIMINGS,
    });
    const started: number[] = [];
    client.work(job, () => void started.push(Date.now()));
    await client.start();
    try {
      await insert(sql, job, { n: 0 });
      await waitFor("the first job to run", () => started.length === 1);
      await pause(sql, "p_live");
      // A claim already under way when the pause committed may still finish its batch.
      await sleep(300);
      await insertMany(sql, job, Array.from({ length: 5 }, (_, n) => ({ args: { n } })));
      await sleep(1500);
      assert.equal(started.length, 1, "nothing was claimed while paused");
      assert.equal((await queueStats(sql, "p_live")).counts.available, 5);
      await sql.begin((tx) => resume(tx, "p_live"));
      const resumedAt = Date.now();
      await waitFor("the held jobs to run after resume", () => started.length === 6, 10_000);
      console.log(`p_live: first job after resume started in ${started[1] - resumedAt} ms`);
      // The poll is an hour: only the notification can have woken the client this soon.
      assert.ok(started[1] - resumedAt < 3000, "resume woke the client at once");
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
    }
  },
});

Deno.test({ name: "close admin_queues_pause database", ...POOL_TEST, fn: () => t.close() });
