/**
 * Upgrade to migration 020 (job waiters): a schema migrated by the release before it (every
 * migration below 020, no `results/` SQL file, the previous finalize and cancel functions are
 * replaced by migrate) gets `job_waiters` as an UNLOGGED table and `notify_waiters`, keeps the
 * jobs it had, and a wait on one of them is answered by the transition's notification.
 */
import assert from "node:assert/strict";
import { defineJob, migrate, waitForJob } from "../../mod.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, waitFor } from "../support/runtime.ts";

const t = await testDatabase("results_upgrade");
const sql = t.sql;
const S = "before_results";

Deno.test({
  name: "a schema from before migration 020 migrates to one where waits are notified",
  ...POOL_TEST,
  async fn() {
    const previous = {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version < 20),
      files: THIS_RELEASE.files.filter((f) => !f.file.startsWith("functions/results/")),
    };
    await migrateRelease(sql, S, previous);
    const table = async () =>
      (await sql`SELECT to_regclass(${S + ".job_waiters"})::text AS r`)[0].r;
    assert.equal(await table(), null);
    const def = defineJob<{ n: number }, { n: number }>("before_upgrade", { queue: "up" });
    // The producer of this release refuses the old schema: the SQL contract inserts.
    const [j] = await sql.unsafe(
      `SELECT id::int AS id FROM ${S}.insert_job('before_upgrade', '{"n": 1}', 'up')`,
    );

    const result = await migrate(sql, { schema: S });
    assert.ok(result.applied.includes(20), String(result.applied));
    assert.ok(result.sqlFiles.includes("functions/results/notify_waiters"));
    assert.notEqual(await table(), null);
    const [{ persistence }] = await sql`
      SELECT c.relpersistence AS persistence FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${S} AND c.relname = 'job_waiters'`;
    assert.equal(persistence, "u");

    const waiting = waitForJob(sql, def, j.id, {
      schema: S,
      pollIntervalMs: 60_000,
      timeoutMs: 20_000,
    });
    await waitFor(
      "waiter registered",
      async () =>
        (await sql.unsafe(`SELECT 1 FROM ${S}.job_waiters WHERE job_id = $1`, [j.id])).length > 0,
    );
    await sql.unsafe(`SELECT ${S}.finalize_attempts((
      SELECT jsonb_agg(jsonb_build_object('claim_slot', c.claim_slot, 'batch_id', c.batch_id,
        'idx', c.idx, 'job_id', c.job_id, 'run_lease', c.run_lease, 'outcome', 'completed',
        'result', '{"n": 2}'::jsonb))
      FROM ${S}.claim_batch('up', 10, 300, 60, gen_random_uuid()) c))`);
    assert.deepEqual(await waiting, { n: 2 });
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
