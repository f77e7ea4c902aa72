/**
 * Upgrade path: a schema built by migrations 001–005 (the schema as it was before the first
 * forward migration) holding jobs in every state is migrated to this release, and then every
 * job finishes or stays where it was. Migrations that have shipped must never change in place:
 * their text is pinned by hash.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Client, defineJob, migrate, SCHEMA_VERSION } from "../mod.ts";
import { MIGRATIONS } from "../src/migrations_embedded.ts";
import { inSchema } from "../src/schema.ts";
import { testDatabase } from "./support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "./runtime_support.ts";

/** sha256 of each migration that is part of an upgrade path; append, never edit. */
const FROZEN: Record<number, string> = {
  1: "122b5dbf9afef7d40c1b92652c762817fbe89a37b0bdd4a0b1aedd8b989f4b5f",
  2: "b8d17b02ebc0fce66417d49f3edfc9267c5a44b7c4b6aa65b66e56149f464394",
  3: "8eb2e115510eafce080767f55c7e7303f9164bab65f5e949fa1d360724ddc30d",
  4: "7abbc14a372ba437acc189c0ba93c1c5c5aadedd16af03648384f5acaf0e2730",
  5: "9bbde818961da415e8961dd506a551526e437928a50893453f524b10dddac8b8",
  6: "4cab25aba15e6ac186526c842cbb902028cb4401fad173deede77e020945c464",
};

const OLD_VERSION = 5;
const S = "upgrade_from_v5";
const t = await testDatabase("migrations_upgrade");
const sql = t.sql;

Deno.test("shipped migrations are unchanged (forward migrations only)", () => {
  for (const [version, hash] of Object.entries(FROZEN)) {
    const m = MIGRATIONS.find((x) => x.version === Number(version));
    assert.ok(m, `migration ${version} exists`);
    assert.equal(
      createHash("sha256").update(m.sql).digest("hex"),
      hash,
      `migration ${version} was edited in place: add a new migration instead`,
    );
  }
});

interface Seeded {
  state: string;
  id: number;
}

/** Build the old schema and put one job in each state, using only the old SQL surface. */
async function seedOldSchema(): Promise<Record<string, Seeded>> {
  await sql.begin(async (tx) => {
    for (const m of MIGRATIONS.filter((x) => x.version <= OLD_VERSION)) {
      await tx.unsafe(inSchema(m.sql, S));
      await tx.unsafe(`INSERT INTO ${S}.schema_version (version, description) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
    }
  });
  const insertJob = async (n: number, runAt: string | null = null): Promise<number> => {
    const [{ id }] = await sql.unsafe(
      `SELECT id::int AS id FROM ${S}.insert_job('upgrade_job', $1::text::jsonb, 'upgrade', 2::smallint,
        3::smallint, $2::timestamptz)`,
      [JSON.stringify({ n }), runAt],
    );
    return id;
  };
  // Claimed first, so that the claim takes exactly these five.
  const claimedIds = [];
  for (let n = 0; n < 5; n++) claimedIds.push(await insertJob(n));
  const claimed = await sql.unsafe(
    `SELECT claim_slot, batch_id::text, idx, job_id::int, run_lease::int
     FROM ${S}.claim_batch('upgrade', 5, 300, 60, $1::uuid) ORDER BY idx`,
    [crypto.randomUUID()],
  );
  assert.deepEqual(claimed.map((r) => r.job_id), claimedIds);
  const item = (i: number, outcome: string, extra: Record<string, unknown> = {}) => ({
    claim_slot: claimed[i].claim_slot,
    batch_id: claimed[i].batch_id,
    idx: claimed[i].idx,
    job_id: claimed[i].job_id,
    run_lease: claimed[i].run_lease,
    outcome,
    ...extra,
  });
  await sql.unsafe(`SELECT * FROM ${S}.finalize_attempts($1::text::jsonb, false, false)`, [
    JSON.stringify([
      item(0, "completed"),
      item(1, "retry", { delay_s: 0.5, error: "transient before the upgrade" }),
      item(2, "fail", { error: "terminal before the upgrade" }),
      item(3, "cancel", { error: "cancelled before the upgrade" }),
    ]),
  ]);
  // Sent to the DLQ by a second claim: retried jobs come back first, so use a fresh job.
  const dlqId = await insertJob(10);
  const [d] = await sql.unsafe(
    `SELECT claim_slot, batch_id::text, idx, job_id::int, run_lease::int
     FROM ${S}.claim_batch('upgrade', 1, 300, 60, $1::uuid)`,
    [crypto.randomUUID()],
  );
  assert.equal(d.job_id, dlqId);
  await sql.unsafe(`SELECT * FROM ${S}.finalize_attempts($1::text::jsonb, false, true)`, [
    JSON.stringify([{ ...d, outcome: "fail", error: "to the DLQ before the upgrade" }]),
  ]);
  const available = await insertJob(20);
  const scheduled = await insertJob(21, new Date(Date.now() + 1500).toISOString());
  const readyCancelled = await insertJob(22);
  await sql.unsafe(`SELECT ${S}.cancel_job($1)`, [readyCancelled]);
  return {
    completed: { id: claimedIds[0], state: "completed" },
    retryable: { id: claimedIds[1], state: "retryable" },
    failed: { id: claimedIds[2], state: "failed" },
    cancelled: { id: claimedIds[3], state: "cancelled" },
    running: { id: claimedIds[4], state: "running" },
    dlq: { id: dlqId, state: "failed" },
    available: { id: available, state: "available" },
    scheduled: { id: scheduled, state: "scheduled" },
    readyCancelled: { id: readyCancelled, state: "cancelled" },
  };
}

async function statesNow(): Promise<Map<number, { state: string; held: string | null }>> {
  const rows = await sql.unsafe(
    `SELECT DISTINCT ON (id) id::int AS id, state::text AS state, held
     FROM ${S}.jobs ORDER BY id, run_lease DESC`,
  );
  return new Map(rows.map((r) => [r.id as number, { state: r.state, held: r.held }]));
}

Deno.test({
  name: "a v5 schema with jobs in every state migrates, and every job finishes or stays put",
  ...POOL_TEST,
  async fn() {
    const seeded = await seedOldSchema();
    const before = await statesNow();
    for (const [name, s] of Object.entries(seeded)) {
      assert.equal(before.get(s.id)?.state, s.state, `${name} seeded as ${s.state}`);
    }
    assert.equal(before.get(seeded.dlq.id)?.held, "dlq");

    const result = await migrate(sql, { schema: S });
    assert.equal(result.from, OLD_VERSION);
    assert.equal(result.to, SCHEMA_VERSION);
    assert.deepEqual(
      result.applied,
      MIGRATIONS.filter((m) => m.version > OLD_VERSION).map((m) => m.version),
    );
    const after = await statesNow();
    assert.equal(after.size, before.size, "no job lost or duplicated by the migration");
    for (const [id, s] of before) {
      // Time may have made the scheduled and retryable jobs due; nothing else moves.
      if (id === seeded.scheduled.id || id === seeded.retryable.id) continue;
      assert.deepEqual(after.get(id), s, `job ${id} kept its state`);
    }

    // The new runtime picks everything up: the stale running attempt is rescued, the due
    // jobs are promoted, and a DLQ retry through the new SQL works.
    const job = defineJob<{ n: number }>("upgrade_job", { queue: "upgrade" });
    const runs = new Map<number, number>();
    const client = new Client(t.connect(), {
      schema: S,
      queues: { upgrade: { maxWorkers: 4 } },
      ...TIMINGS,
    });
    client.work(job, (j) => void runs.set(j.id, (runs.get(j.id) ?? 0) + 1));
    await client.start();
    try {
      await sql.unsafe(`SELECT ${S}.retry_held($1)`, [seeded.dlq.id]);
      const toRun = ["retryable", "running", "dlq", "available", "scheduled"];
      await waitFor("every unfinished job ran after the upgrade", async () => {
        const now = await statesNow();
        return toRun.every((k) => now.get(seeded[k].id)?.state === "completed");
      }, 30_000);
      for (const k of toRun) assert.equal(runs.get(seeded[k].id), 1, `${k} ran once`);
      const final = await statesNow();
      for (const k of ["completed", "failed", "cancelled", "readyCancelled"]) {
        assert.equal(final.get(seeded[k].id)?.state, seeded[k].state, `${k} stayed put`);
        assert.equal(runs.has(seeded[k].id), false, `${k} did not run`);
      }
      assert.equal(final.size, before.size, "nothing lost");
    } finally {
      await client.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
