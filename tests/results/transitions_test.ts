/**
 * Every transition that ends a job wakes its waiters, in the transition's own transaction:
 * completion, a terminal failure (failed hold and DLQ), exhausted retries, a rescue at the last
 * attempt, the handler's cancel, an operator's cancel of a queued, scheduled or running job.
 * Waits here poll once a minute, so only the notification can answer them in time; jobs are
 * driven through the engine's own SQL, without a Client. Jobs nobody waits for send nothing.
 */
import assert from "node:assert/strict";
import { defineJob, insert, JobFailedError, waitForJob } from "../../mod.ts";
import { cancelJob } from "../../admin.ts";
import { notifyChannel, RESULT_TOPIC } from "../../src/db/channels.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, waitFor } from "../support/runtime.ts";
import { claimAndFinalize, claimOnly } from "../admin/support.ts";

const t = await testDatabase("results_transitions");
const sql = t.sql;
/** Notice-only waits: a poll would come after the test's own timeout. */
const NOTICE_ONLY = { pollIntervalMs: 60_000, timeoutMs: 20_000 };

let queueNo = 0;
function fresh(maxAttempts = 5) {
  const queue = `tq${++queueNo}`;
  return {
    queue,
    def: defineJob<{ n: number }, { ok: number }>(`t.${queue}`, { queue, maxAttempts }),
  };
}

/**
 * Start a notice-only wait on job `id`; resolves, once its waiter row is registered, to
 * `{ settled }`, the wait's outcome (wrapped: a returned promise would be awaited here).
 */
async function waiting(id: number) {
  const settled = waitForJob(sql, id, NOTICE_ONLY).then(
    (result) => ({ result, error: null }),
    (error) => ({ result: null, error }),
  );
  await waitFor(
    "waiter registered",
    async () => (await sql`SELECT 1 FROM awa.job_waiters WHERE job_id = ${id}`).length > 0,
  );
  return { settled };
}

async function waiters(id: number): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM awa.job_waiters WHERE job_id = ${id}`;
  return n;
}

Deno.test(
  "a completion wakes its waiter with the result; the registration goes with it",
  POOL_TEST,
  async () => {
    const { queue, def } = fresh();
    const j = await insert(sql, def, { n: 1 });
    const w = await waiting(j.id);
    assert.deepEqual(await claimAndFinalize(sql, queue, "completed", { result: { ok: 7 } }), [
      "completed",
    ]);
    assert.deepEqual(await w.settled, { result: { ok: 7 }, error: null });
    assert.equal(await waiters(j.id), 0);
  },
);

for (
  const [name, outcome, dlq, maxAttempts, code, state] of [
    ["a terminal failure (failed hold)", "fail", false, 5, "JOB_FAILED", "failed"],
    ["a terminal failure into the DLQ", "fail", true, 5, "JOB_FAILED", "failed"],
    ["a retry at the last attempt", "retry", false, 1, "JOB_FAILED", "failed"],
    ["a rescue at the last attempt", "rescue_heartbeat", false, 1, "JOB_FAILED", "failed"],
    ["the handler's cancel", "cancel", false, 5, "JOB_WAS_CANCELLED", "cancelled"],
  ] as const
) {
  Deno.test(`${name} rejects its waiter with ${code}`, POOL_TEST, async () => {
    const { queue, def } = fresh(maxAttempts);
    const j = await insert(sql, def, { n: 1 });
    const w = await waiting(j.id);
    assert.deepEqual(await claimAndFinalize(sql, queue, outcome, { dlq }), [state]);
    const { error } = await w.settled;
    assert.ok(error instanceof JobFailedError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.state, state);
    assert.equal(error.jobId, j.id);
    assert.equal(error.dlq, dlq);
    assert.ok(error.errors.length >= 1, "the job's errors come with the rejection");
    assert.equal(await waiters(j.id), 0);
  });
}

Deno.test(
  "an operator's cancel wakes the waiters of queued, scheduled and running jobs",
  POOL_TEST,
  async () => {
    const { queue, def } = fresh();
    const queued = await insert(sql, def, { n: 1 });
    const scheduled = await insert(sql, def, { n: 2 }, { runAt: new Date(Date.now() + 3_600_000) });
    const waits = [await waiting(queued.id), await waiting(scheduled.id)];
    assert.equal(await cancelJob(sql, queued.id, { reason: "not needed" }), true);
    assert.equal(await cancelJob(sql, scheduled.id), true);
    for (const w of waits) {
      const { error } = await w.settled;
      assert.ok(error instanceof JobFailedError);
      assert.equal(error.code, "JOB_WAS_CANCELLED");
    }
    const running = await insert(sql, def, { n: 3 });
    assert.deepEqual(await claimOnly(sql, queue), [running.id]);
    const w = await waiting(running.id);
    assert.equal(await cancelJob(sql, running.id, { reason: "stop" }), true);
    const { error } = await w.settled;
    assert.ok(error instanceof JobFailedError);
    assert.equal(error.state, "cancelled");
    assert.match(error.errors.at(-1)!.error, /stop/);
  },
);

Deno.test(
  "a retry that runs again does not wake the waiter; the final outcome does",
  POOL_TEST,
  async () => {
    const { queue, def } = fresh(3);
    const j = await insert(sql, def, { n: 1 });
    const w = await waiting(j.id);
    assert.deepEqual(await claimAndFinalize(sql, queue, "retry"), ["retryable"]);
    assert.equal(await waiters(j.id), 1, "still waited for");
    await sql`UPDATE awa.deferred_jobs SET run_at = now() - interval '1 second'`;
    await sql`SELECT awa.promote_due(1000)`;
    assert.deepEqual(await claimAndFinalize(sql, queue, "completed", { result: { ok: 2 } }), [
      "completed",
    ]);
    assert.deepEqual(await w.settled, { result: { ok: 2 }, error: null });
  },
);

Deno.test("jobs nobody waits for send no notice", POOL_TEST, async () => {
  const { queue, def } = fresh();
  const heard: string[] = [];
  const l = await sql.listen(notifyChannel("awa", RESULT_TOPIC), (p) => heard.push(p));
  try {
    const plain = await insert(sql, def, { n: 1 });
    assert.deepEqual(await claimAndFinalize(sql, queue, "completed"), ["completed"]);
    const waited = await insert(sql, def, { n: 2 });
    const w = await waiting(waited.id);
    assert.deepEqual(await claimAndFinalize(sql, queue, "completed"), ["completed"]);
    await w.settled;
    // Notices arrive in commit order: the waited job's came after the plain job's transition.
    await waitFor("the waited job's notice", () => heard.includes(String(waited.id)));
    assert.deepEqual(heard, [String(waited.id)]);
    assert.ok(!heard.includes(String(plain.id)));
  } finally {
    await l.unlisten();
  }
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
