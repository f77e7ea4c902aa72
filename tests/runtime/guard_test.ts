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
    assert.deepEqual(await finalizeRaw(sql, ra, "retry"), [], "a receipt closes once");
    assert.equal((await jobState(sql, a.id))?.state, "completed");
    assert.equal((await jobState(sql, b.id))?.state, "running", "the other attempt is untouched");
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
