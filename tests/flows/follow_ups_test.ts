/**
 * Follow-up jobs declared by a definition or by one insert: the right trigger fires (complete,
 * failure for good, cancel), the others are skipped, the parent's result reaches the follow-up,
 * a rolled-back insert leaves nothing, and insertMany refuses definitions with follow-ups.
 * Batches: 1,000 members and one callback with the counts.
 */
import assert from "node:assert/strict";
import {
  defineJob,
  flowInputs,
  followUp,
  insert,
  insertBatch,
  insertMany,
  ValidationError,
} from "../../mod.ts";
import { cancelJob } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, waitFor } from "../support/runtime.ts";
import { createLog, nodeStates, startWorker, step } from "./support.ts";

const t = await testDatabase("flows_follow_ups");
await createLog(t);
const client = await startWorker(t, 8);

/** Follow-ups go to a queue nobody works, so they stay visible as available jobs. */
const notify = defineJob<{ why: string }>("flow_notify", { queue: "flow_notify_q" });
const audited = defineJob<{ label: string; action?: "complete" | "fail" | "cancel" }>(
  "flow_step",
  {
    queue: "flows",
    maxAttempts: 1,
    followUps: { onComplete: [followUp(notify, { why: "definition" })] },
  },
);

async function followUpsOf(parentId: number) {
  return await t.sql<
    { id: number; kind: string; args: { why: string }; metadata: Record<string, unknown> }[]
  >`
    SELECT id::int, kind, args, metadata FROM awa.jobs
    WHERE queue = 'flow_notify_q' AND metadata -> 'awa:parents' -> 'parent' ->> 'job_id' = ${
    String(parentId)
  }`;
}

async function groupOf(parentId: number): Promise<number> {
  const [{ flow_id }] = await t.sql<{ flow_id: number }[]>`
    SELECT flow_id::int FROM awa.flow_nodes WHERE job_id = ${parentId}`;
  return flow_id;
}

async function finished(parentId: number): Promise<void> {
  await waitFor(`parent ${parentId} finished`, async () => {
    const [{ n }] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM awa.flow_nodes
      WHERE flow_id = (SELECT flow_id FROM awa.flow_nodes WHERE job_id = ${parentId})
        AND state IN ('waiting', 'released') AND job_id <= ${parentId}`;
    return n === 0;
  });
}

const all = {
  onComplete: [followUp(notify, { why: "completed" })],
  onFailure: [followUp(notify, { why: "failed" })],
  onCancel: [followUp(notify, { why: "cancelled" })],
};

Deno.test({
  name: "a completed job enqueues its onComplete follow-ups with its result; the rest are skipped",
  ...POOL_TEST,
  async fn() {
    const parent = await insert(t.sql, audited, { label: "fu-complete" }, { followUps: all });
    await finished(parent.id);
    const jobs = await followUpsOf(parent.id);
    assert.deepEqual(jobs.map((j) => j.args.why).sort(), ["completed", "definition"]);
    for (const j of jobs) {
      const inputs = flowInputs(j);
      assert.deepEqual(inputs.parents.parent.result, { label: "fu-complete" });
      assert.equal(inputs.parents.parent.state, "completed");
    }
    assert.deepEqual(await nodeStates(t, await groupOf(parent.id)), {
      parent: "completed",
      "onComplete.0": "released",
      "onComplete.1": "released",
      "onFailure.0": "skipped",
      "onCancel.0": "skipped",
    });
  },
});

Deno.test({
  name: "a job failing for good enqueues onFailure; a cancelled one (handler or admin) onCancel",
  ...POOL_TEST,
  async fn() {
    const failed = await insert(t.sql, step, { label: "fu-fail", action: "fail" }, {
      followUps: all,
    });
    const byHandler = await insert(t.sql, step, { label: "fu-cancel", action: "cancel" }, {
      followUps: all,
    });
    const byAdmin = await insert(t.sql, step, { label: "fu-admin" }, {
      followUps: all,
      runAt: new Date(Date.now() + 3_600_000),
    });
    assert.equal(await cancelJob(t.sql, byAdmin.id), true);
    for (const p of [failed, byHandler, byAdmin]) await finished(p.id);
    assert.deepEqual((await followUpsOf(failed.id)).map((j) => j.args.why), ["failed"]);
    assert.equal(flowInputs((await followUpsOf(failed.id))[0]).parents.parent.state, "failed");
    assert.deepEqual((await followUpsOf(byHandler.id)).map((j) => j.args.why), ["cancelled"]);
    assert.deepEqual((await followUpsOf(byAdmin.id)).map((j) => j.args.why), ["cancelled"]);
  },
});

Deno.test({
  name:
    "a rolled-back insert leaves neither the job nor its follow-ups; bad follow-ups write nothing",
  ...POOL_TEST,
  async fn() {
    const [{ n: before }] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM awa.flow_nodes`;
    await assert.rejects(
      t.sql.begin(async (tx) => {
        await insert(tx, step, { label: "fu-rollback" }, { followUps: all });
        throw new Error("roll back");
      }),
      /roll back/,
    );
    await assert.rejects(
      () =>
        insert(t.sql, step, { label: "fu-bad" }, {
          followUps: { onComplete: [followUp(notify, { why: "x" }, { priority: 7 })] },
        }),
      ValidationError,
    );
    await assert.rejects(
      () => insert(t.sql, step, { label: "fu-bad" }, { followUps: { onDone: [] } as never }),
      ValidationError,
    );
    await assert.rejects(
      () => insertMany(t.sql, audited, [{ args: { label: "many" } }]),
      ValidationError,
    );
    const [{ n: after }] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM awa.flow_nodes`;
    assert.equal(after, before);
    const jobs = await t
      .sql`SELECT 1 FROM awa.jobs WHERE args ->> 'label' IN ('fu-rollback', 'fu-bad', 'many')`;
    assert.equal(jobs.length, 0);
  },
});

Deno.test({
  name: "a batch of 1,000 gets one callback, after every member, with the counts",
  ...POOL_TEST,
  async fn() {
    const args = Array.from({ length: 1000 }, (_, i) => ({
      label: `batch-${i}`,
      action: i % 100 === 7 ? "fail" as const : i % 100 === 8 ? "cancel" as const : undefined,
    }));
    const batch = await insertBatch(t.sql, step, args, {
      name: "thousand",
      onFinished: followUp(step, { label: "batch-callback" }),
    });
    assert.equal(batch.jobIds.length, 1000);
    await waitFor("the callback ran", async () => {
      const rows = await t.sql`SELECT 1 FROM flow_log WHERE label = 'batch-callback'`;
      return rows.length > 0;
    }, 120_000);
    const log = await t.sql<
      { label: string; job_id: number; metadata: Record<string, unknown>; started_at: Date }[]
    >`
      SELECT label, job_id::int, metadata, started_at FROM flow_log
      WHERE label LIKE 'batch-%' ORDER BY seq`;
    const callbacks = log.filter((l) => l.label === "batch-callback");
    assert.equal(callbacks.length, 1);
    assert.equal(callbacks[0].job_id, batch.callbackJobId);
    assert.equal(log.length, 1001, "every member ran once, then the callback");
    assert.equal(log[log.length - 1].label, "batch-callback");
    assert.deepEqual(flowInputs(callbacks[0]).batch, {
      id: batch.batchId,
      total: 1000,
      completed: 980,
      failed: 10,
      cancelled: 10,
    });
  },
});

Deno.test({
  name: "shutdown",
  ...POOL_TEST,
  async fn() {
    await client.shutdown({ timeoutMs: 5000 });
    await t.close();
  },
});
