/**
 * The rings service: each tick prunes then rotates the queue and claim rings. An idle ring is
 * left where it is; a ring with rows rotates once per tick, and once it has wrapped, the
 * oldest slot's unclaimed job is carried forward into the current slot, so the slot can be
 * truncated and the job is still there to claim.
 */
import assert from "node:assert/strict";
import { defineJob, insert, ValidationError } from "../../mod.ts";
import { rings } from "../../src/maintenance/rings.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, SETTINGS, tickContext } from "../support/maintenance.ts";
import { jobState, POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("maintenance_rings");
const sql = t.sql;

async function generation(ring: "queue" | "claim"): Promise<number> {
  const [{ g }] = await sql<{ g: number }[]>`
    SELECT max(generation)::int AS g FROM awa.ring_rotations WHERE ring = ${ring}`;
  return g;
}

async function readySlotOf(jobId: number): Promise<number[]> {
  const rows = await sql<{ s: number }[]>`
    SELECT ready_slot::int AS s FROM awa.ready_entries WHERE job_id = ${jobId}`;
  return rows.map((r) => r.s);
}

Deno.test({
  name: "rings: idle rings stay put; a ring with a waiting job rotates and carries it forward",
  ...POOL_TEST,
  async fn() {
    const r = prepared(rings, undefined, tickContext(sql));
    assert.equal(r.options.intervalMs, 5000, "default interval");
    await r.tick();
    assert.deepEqual(r.stats.rotations, { skipped_idle: 2 });
    assert.equal(await generation("queue"), 0);

    const j = await insert(sql, defineJob<unknown>("rg_wait", { queue: "rg_wait" }), {});
    assert.deepEqual(await readySlotOf(j.id), [0]);
    // 16 queue slots: 15 rotations bring the cursor to slot 15; the 16th needs slot 0 empty.
    for (let i = 0; i < 15; i++) await r.tick();
    assert.equal(await generation("queue"), 15);
    assert.ok((r.stats.prunes.skipped_live ?? 0) >= 1, "not carried before the ring wrapped");
    assert.equal(r.stats.prunes.carried ?? 0, 0);

    await r.tick();
    assert.equal(r.stats.prunes.carried, 1, JSON.stringify(r.stats.prunes));
    assert.equal(await generation("queue"), 16, "slot 0 was free to rotate into");
    assert.deepEqual(await readySlotOf(j.id), [15], "the job moved to the slot it was current in");
    assert.equal((await jobState(sql, j.id))?.state, "available");
    // The claim ring never had a claim: it stayed idle throughout.
    assert.equal(await generation("claim"), 0);
    assert.equal(r.stats.rotations.skipped_idle, 2 + 16);
  },
});

Deno.test({
  name: "rings: intervalMs is an integer from 1 ms to 1 hour",
  ...POOL_TEST,
  fn() {
    const field = "maintenance.rings";
    assert.equal(rings.resolve({ intervalMs: 20 }, field, SETTINGS).intervalMs, 20);
    for (const bad of [0, 3_600_001, Number.NaN, null]) {
      assert.throws(
        () => rings.resolve({ intervalMs: bad } as never, field, SETTINGS),
        (e: unknown) => e instanceof ValidationError && e.field === `${field}.intervalMs`,
        String(bad),
      );
    }
    assert.throws(
      () => rings.resolve({ rotateIntervalMs: 20 } as never, field, SETTINGS),
      (e: unknown) => e instanceof ValidationError && e.field === `${field}.rotateIntervalMs`,
    );
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
