/**
 * The completion guard at the SQL boundary: an outcome applies only when its receipt is open
 * and names the attempt it was issued for — the same job and the same run_lease. Anything else
 * changes nothing and comes back absent (stale).
 */
import assert from "node:assert/strict";
import { defineJob, insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { finalizeRaw, jobState, POOL_TEST, receiptOfJob } from "../support/runtime.ts";

const t = await testDatabase("runtime_guard");
const sql = t.sql;

Deno.test({
  name: "guard: a receipt with another run_lease or job id is stale; the right one closes once",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("guarded", { queue: "guard" });
    const a = await insert(sql, job, { n: 1 });
    const b = await insert(sql, job, { n: 2 });
    const claimed = await sql`
      SELECT job_id FROM awa.claim_batch('guard', 10, 300, 60, gen_random_uuid())`;
    assert.equal(claimed.length, 2);
    const ra = (await receiptOfJob(sql, a.id))!;
    const rb = (await receiptOfJob(sql, b.id))!;
    assert.equal(ra.run_lease, 1);

    for (const forged of [{ ...ra, run_lease: ra.run_lease + 1 }, { ...ra, run_lease: 0 }]) {
      assert.deepEqual(await finalizeRaw(sql, forged), [], `run_lease ${forged.run_lease}`);
    }
    assert.deepEqual(await finalizeRaw(sql, { ...ra, job_id: b.id }), [], "another job's id");
    assert.deepEqual(
      await finalizeRaw(sql, { ...rb, idx: ra.idx }),
      [],
      "another slot in the batch",
    );
    assert.equal((await jobState(sql, a.id))?.state, "running", "nothing was written");

    const applied = await finalizeRaw(sql, ra);
    assert.deepEqual(applied.map((r) => [Number(r.job_id), r.state]), [[a.id, "completed"]]);
    assert.deepEqual(await finalizeRaw(sql, ra), [], "a receipt closes once (completion)");
    assert.deepEqual(await finalizeRaw(sql, ra, "retry"), [], "a receipt closes once (retry)");
    assert.equal((await jobState(sql, a.id))?.state, "completed");
    assert.equal((await jobState(sql, b.id))?.state, "running", "the other attempt is untouched");
  },
});

/** What a completion leaves behind: its done row, closure and the row finalize returned. */
async function completionTrace(jobId: number) {
  const [done] = await sql`
    SELECT d.state::text, d.attempt, d.run_lease::int, d.queue, d.priority,
      d.attempted_at = b.claimed_at AS attempted_at_is_claim, d.result, d.errors, d.progress,
      d.ready_slot = b.ready_slot AS same_slot
    FROM awa.done_entries d
    JOIN awa.claim_batches b ON ${jobId} = ANY (b.job_ids)
    WHERE d.job_id = ${jobId}`;
  const [closure] = await sql`
    SELECT c.outcome, c.closed_count
    FROM awa.claim_batches b
    JOIN awa.claim_closures c ON c.claim_slot = b.claim_slot
      AND c.receipt_ranges && awa.receipt_block(b.batch_id)
    WHERE ${jobId} = ANY (b.job_ids)`;
  return { done: { ...done }, closure: { ...closure } };
}

Deno.test({
  name: "guard: a flush of plain completions writes what the general path writes",
  ...POOL_TEST,
  async fn() {
    // finalize_attempts takes a shorter statement when every item is a plain completion. The
    // same completion sent beside a retry (which needs the general statement) must leave the
    // same done row, closure and returned row.
    const job = defineJob<{ n: number }>("guard_paths", { queue: "guard_paths" });
    const ids: number[] = [];
    for (let n = 0; n < 4; n++) ids.push((await insert(sql, job, { n })).id);
    const claimed = await sql`
      SELECT job_id FROM awa.claim_batch('guard_paths', 1, 300, 60, gen_random_uuid())
      UNION ALL SELECT job_id FROM awa.claim_batch('guard_paths', 3, 300, 60, gen_random_uuid())`;
    assert.equal(claimed.length, 4);
    const [fast, general, retried, stale] = await Promise.all(
      ids.map(async (id) => (await receiptOfJob(sql, id))!),
    );
    const returned = (items: unknown[]) =>
      sql<{ job_id: string; run_lease: string; outcome: string; state: string }[]>`
        SELECT job_id::text, run_lease::text, outcome, state, held, run_at, queue, kind, attempt,
          max_attempts
        FROM awa.finalize_attempts(${JSON.stringify(items)}::text::jsonb)`;
    const result = { answer: 42 };
    const fastRows = await returned([
      { ...fast, outcome: "completed", state: "completed", result },
      { ...stale, run_lease: stale.run_lease + 1, outcome: "completed" },
    ]);
    const generalRows = await returned([
      { ...general, outcome: "completed", state: "completed", result },
      { ...retried, outcome: "retry", state: "retryable", error: "boom" },
    ]);
    assert.deepEqual(fastRows.map((r) => Number(r.job_id)), [fast.job_id], "stale item absent");
    const strip = (r: Record<string, unknown>) => ({ ...r, job_id: undefined });
    assert.deepEqual(
      strip({ ...fastRows[0] }),
      strip({ ...generalRows.find((r) => Number(r.job_id) === general.job_id)! }),
    );
    const a = await completionTrace(fast.job_id);
    const b = await completionTrace(general.job_id);
    assert.deepEqual(a.done, b.done);
    assert.deepEqual(a.done.result, result);
    assert.equal(a.closure.outcome, "completed");
    assert.equal((await jobState(sql, stale.job_id))?.state, "running", "stale item wrote nothing");
    assert.equal((await jobState(sql, retried.job_id))?.state, "retryable");
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
