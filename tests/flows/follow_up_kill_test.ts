/**
 * Follow-ups are enqueued in the transaction that completes their parent, so no crash can split
 * the two. A worker process is killed with SIGKILL at random moments while parents complete, and
 * restarted, until every parent has completed; then every completed parent has exactly one
 * follow-up job, and no follow-up exists for a parent that did not complete.
 */
import assert from "node:assert/strict";
import { defineJob, followUp, insertMany } from "../../mod.ts";
import { insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { Fixture, POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";
import { createLog, step } from "./support.ts";

const t = await testDatabase("flows_follow_up_kill");
await createLog(t);
const after = defineJob<{ n: number }>("flow_after", { queue: "flow_after_q" });
const PARENTS = 200;

async function check(final: boolean): Promise<number> {
  const rows = await t.sql<{ parent_state: string; child_state: string; jobs: number }[]>`
    SELECT p.state AS parent_state, c.state AS child_state,
      (SELECT count(*)::int FROM awa.jobs j WHERE j.queue = 'flow_after_q'
        AND j.metadata -> 'awa:parents' -> 'parent' ->> 'job_id' = p.job_id::text) AS jobs
    FROM awa.flow_nodes p JOIN awa.flow_nodes c ON c.flow_id = p.flow_id AND c.node_key <> 'parent'
    WHERE p.node_key = 'parent'`;
  assert.equal(rows.length, PARENTS);
  let completed = 0;
  for (const r of rows) {
    if (r.parent_state === "completed") {
      completed++;
      assert.equal(r.child_state, "released");
      assert.equal(r.jobs, 1, "a completed parent has exactly one follow-up");
    } else {
      assert.equal(r.parent_state, "released", "no parent failed or was cancelled");
      assert.equal(r.child_state, "waiting");
      assert.equal(r.jobs, 0, "no follow-up before its parent completed");
    }
  }
  if (final) assert.equal(completed, PARENTS);
  return completed;
}

Deno.test({
  name: "SIGKILL at random points while parents complete: each follow-up exactly once",
  ...POOL_TEST,
  async fn() {
    // Plain jobs first, so the queue has work that is no flow node too.
    await insertMany(
      t.sql,
      step,
      Array.from({ length: 50 }, (_, i) => ({ args: { label: `plain-${i}` } })),
    );
    for (let n = 0; n < PARENTS; n++) {
      await insert(t.sql, step, { label: `parent-${n}`, sleepMs: n % 3 === 0 ? 20 : 0 }, {
        maxAttempts: 25,
        followUps: { onComplete: [followUp(after, { n })] },
      });
    }
    const timings = JSON.stringify({
      ...TIMINGS,
      heartbeat: { intervalMs: 100, stalenessMs: 300 },
    });
    let kills = 0;
    for (let round = 0; round < 8; round++) {
      const w = new Fixture("flow_worker.ts", [t.url, "8", timings]);
      await w.line((l) => l.ready === true);
      const done = await check(false);
      if (done === PARENTS) {
        await w.stop();
        break;
      }
      await sleep(50 + Math.floor(Math.random() * 400));
      await w.kill("SIGKILL");
      kills++;
      await check(false);
    }
    assert.ok(kills >= 2, `the worker was killed ${kills} times`);
    // A last, unkilled worker finishes whatever the kills left (rescue brings attempts back).
    const last = new Fixture("flow_worker.ts", [t.url, "8", timings]);
    try {
      await last.line((l) => l.ready === true);
      await waitFor("every parent completed", async () => (await check(false)) === PARENTS, 60_000);
    } finally {
      await last.stop();
    }
    await check(true);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
