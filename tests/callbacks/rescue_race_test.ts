/**
 * Rescue picks its candidates in one statement and closes them in another. An attempt that
 * parks on its callback in between must stay parked: the callback's resolution or timeout ends
 * it, never a heartbeat or deadline rescue. Driven step by step through the SQL so the window
 * is hit every time.
 */
import assert from "node:assert/strict";
import { completeExternal, defineJob, insert } from "../../mod.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { parkCallback, registerCallback } from "../../src/storage/callbacks.ts";
import { rescueCandidates } from "../../src/storage/maintenance.ts";
import { storeOf } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, receiptOfJob } from "../support/runtime.ts";

const t = await testDatabase("callbacks_rescue_race");
const sql = t.sql;
const store = storeOf(toExecutor(sql), "awa");
const job = defineJob<unknown>("race_cb", { queue: "race", maxAttempts: 3 });
const EXPRS = { filter: null, onComplete: null, onFail: null, transform: null };

async function claimOne(): Promise<{ id: number; ref: Parameters<typeof parkCallback>[1] }> {
  const { id } = await insert(sql, job, {});
  await sql`SELECT job_id FROM awa.claim_batch('race', 1, 0, 0, ${crypto.randomUUID()}::uuid)`;
  const r = (await receiptOfJob(sql, id))!;
  return {
    id,
    ref: {
      claimSlot: r.claim_slot,
      batchId: r.batch_id,
      idx: r.idx,
      jobId: id,
      runLease: r.run_lease,
    },
  };
}

for (const kind of ["heartbeat", "deadline"] as const) {
  Deno.test({
    name: `a ${kind} rescue chosen before the attempt parked leaves it parked`,
    ...POOL_TEST,
    async fn() {
      const { id, ref } = await claimOne();
      const callbackId = (await registerCallback(store, ref, 60, EXPRS))!;
      if (kind === "deadline") {
        await sql`UPDATE awa.claim_batches SET deadline_at = now() - interval '1 s'
          WHERE claim_slot = ${ref.claimSlot} AND batch_id = ${ref.batchId}`;
      }
      // Staleness 0: an attempt with no heartbeat at all is a heartbeat candidate at once.
      const candidates = (await rescueCandidates(store, kind, 0, 100))
        .filter((c) => Number(c.job_id) === id);
      assert.equal(candidates.length, 1, "the running attempt is a rescue candidate");

      assert.equal(await parkCallback(store, ref, callbackId, null), "parked");
      const closed = await sql<{ job_id: string }[]>`
        SELECT job_id::text FROM awa.finalize_attempts(${
        JSON.stringify(candidates)
      }::text::jsonb, true)`;
      assert.deepEqual([...closed], [], "rescue closed nothing");
      assert.equal((await jobState(sql, id))?.state, "waiting_external");

      // The callback still owns the attempt: its resolution completes the job.
      assert.equal((await completeExternal(sql, callbackId, { ok: true })).state, "completed");
      assert.equal((await jobState(sql, id))?.state, "completed");
    },
  });
}

Deno.test({
  name: "a rescue of an attempt that did not park still closes it",
  ...POOL_TEST,
  async fn() {
    const { id, ref } = await claimOne();
    await registerCallback(store, ref, 60, EXPRS);
    const candidates = (await rescueCandidates(store, "heartbeat", 0, 100))
      .filter((c) => Number(c.job_id) === id);
    assert.equal(candidates.length, 1);
    const closed = await sql<{ state: string }[]>`
      SELECT state FROM awa.finalize_attempts(${JSON.stringify(candidates)}::text::jsonb, true)`;
    assert.deepEqual(closed.map((r) => r.state), ["retryable"]);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
