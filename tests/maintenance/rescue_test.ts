/**
 * The rescue service: one tick closes attempts past their deadline (the job retries after the
 * backoff) and attempts whose heartbeat went stale (the job is available again at once), and
 * emits `rescued` for each; the staleness comes from the client's `heartbeat.stalenessMs`.
 */
import assert from "node:assert/strict";
import { defineJob, insert, ValidationError } from "../../mod.ts";
import { rescue } from "../../src/maintenance/rescue.ts";
import { testDatabase } from "../support/db.ts";
import { type Emitted, prepared, SETTINGS, tickContext } from "../support/maintenance.ts";
import { jobState, POOL_TEST, sleep } from "../support/runtime.ts";

const t = await testDatabase("maintenance_rescue");
const sql = t.sql;

/** Insert one job into `queue` and claim it as a worker would, with `deadlineS`. */
async function claimed(queue: string, deadlineS: number): Promise<number> {
  const j = await insert(sql, defineJob<unknown>(`${queue}_job`, { queue }), {});
  const rows = await sql`
    SELECT job_id FROM awa.claim_batch(${queue}, 1, ${deadlineS}, 60, gen_random_uuid())`;
  assert.equal(rows.length, 1);
  return j.id;
}

Deno.test({
  name: "rescue: a tick rescues an overdue attempt by deadline and a silent one by heartbeat",
  ...POOL_TEST,
  async fn() {
    const events: Emitted[] = [];
    const r = prepared(rescue, undefined, tickContext(sql, events));
    assert.deepEqual(r.options, { intervalMs: 30_000, stalenessMs: 600, dlqDefault: false });

    // Past its deadline at once, but claimed just now: not stale yet.
    const overdue = await claimed("rs_deadline", 0.01);
    await sleep(50);
    assert.equal((await r.tick()).rescued, 1);
    assert.equal((await jobState(sql, overdue))?.state, "retryable", "retries after the backoff");

    // No heartbeat for longer than the staleness (600 ms).
    const silent = await claimed("rs_heartbeat", 300);
    await sleep(800);
    assert.equal((await r.tick()).rescued, 2);
    assert.equal((await jobState(sql, silent))?.state, "available", "available again at once");

    const seen = events.map((e) => {
      const p = e.payload as { jobId: number; reason: string };
      return [e.event, p.jobId, p.reason];
    });
    assert.deepEqual(
      seen,
      [["rescued", overdue, "deadline"], ["rescued", silent, "heartbeat"]],
    );
  },
});

Deno.test({
  name: "rescue: a longer heartbeat.stalenessMs leaves the same silent attempt alone",
  ...POOL_TEST,
  async fn() {
    const patient = { ...SETTINGS, heartbeat: { intervalMs: 200, stalenessMs: 60_000 } };
    const r = prepared(rescue, { intervalMs: 1000 }, tickContext(sql), patient);
    assert.equal(r.options.stalenessMs, 60_000);
    const silent = await claimed("rs_patient", 300);
    await sleep(800);
    assert.equal((await r.tick()).rescued, 0);
    assert.equal((await jobState(sql, silent))?.state, "running");
  },
});

Deno.test({
  name: "rescue: intervalMs is an integer from 1 ms to 1 day",
  ...POOL_TEST,
  fn() {
    const field = "maintenance.rescue";
    assert.equal(
      rescue.resolve({ intervalMs: 86_400_000 }, field, SETTINGS).intervalMs,
      86_400_000,
    );
    for (const bad of [0, 86_400_001, 0.5, "1000"]) {
      assert.throws(
        () => rescue.resolve({ intervalMs: bad } as never, field, SETTINGS),
        (e: unknown) => e instanceof ValidationError && e.field === `${field}.intervalMs`,
        String(bad),
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
