/**
 * Migration 013 (admin stats) on a populated schema of the previous version: the schema is
 * taken back to version 12 (013's tables and index dropped, its version row removed) while it
 * holds available, scheduled and completed jobs; migrate() then applies 013 alone, keeps every
 * job where it was, and queueStats and prune work on the result.
 */
import assert from "node:assert/strict";
import { defineJob, insert, insertMany, migrate } from "../../mod.ts";
import { queueStats } from "../../admin.ts";
import { MIGRATIONS } from "../../src/migrations_embedded.ts";
import { testDatabase } from "../support/db.ts";
import { finalizeRaw, POOL_TEST, receiptOfJob, statesOf } from "../support/runtime.ts";

const t = await testDatabase("migrate_admin_stats");
const sql = t.sql;

Deno.test({
  name: "migration 013 applies to a populated schema of the previous version",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("upgrade_013", { queue: "u13" });
    await insertMany(sql, job, Array.from({ length: 6 }, (_, n) => ({ args: { n } })));
    await insert(sql, job, { n: 99 }, { runAt: new Date(Date.now() + 3_600_000) });
    const [claimed] = await sql`SELECT job_id::int FROM awa.claim_batch('u13', 2, 0, 0,
      ${crypto.randomUUID()}::uuid)`;
    await finalizeRaw(sql, (await receiptOfJob(sql, claimed.job_id))!, "completed");

    // Back to version 12: 013's objects and those of every later migration go.
    await sql.unsafe(`DROP TABLE awa.queue_terminal_counts, awa.ring_maintenance_status;
      DROP TABLE awa.cron_jobs, awa.cache_entries, awa.job_waiters;
      DROP TABLE awa.queue_overrides;
      DROP TABLE awa.queue_flow, awa.key_admissions, awa.key_waiting;
      DROP SEQUENCE awa.key_waiting_seq;
      DROP TABLE awa.flow_gates, awa.flow_edges, awa.flow_nodes, awa.flows;
      DROP SEQUENCE awa.flow_id_seq;
      DROP INDEX awa.deferred_jobs_queue_state;
      DROP INDEX awa.attempt_state_callback_id, awa.attempt_state_callback_timeout;
      ALTER TABLE awa.attempt_state DROP COLUMN callback_filter, DROP COLUMN callback_on_complete,
        DROP COLUMN callback_on_fail, DROP COLUMN callback_transform, DROP COLUMN callback_parked,
        DROP COLUMN callback_result, DROP COLUMN callback_result_id;
      DELETE FROM awa.schema_version WHERE version >= 13`);
    const states = await statesOf(sql, "u13");

    const r = await migrate(sql);
    assert.deepEqual(r.applied, MIGRATIONS.map((m) => m.version).filter((v) => v >= 13));
    assert.deepEqual(await statesOf(sql, "u13"), states);
    const s = await queueStats(sql, "u13");
    assert.deepEqual(
      [s.counts.available, s.counts.running, s.counts.scheduled, s.counts.completed],
      [4, 1, 1, 1],
    );
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM pg_indexes
      WHERE schemaname = 'awa' AND indexname = 'deferred_jobs_queue_state'`;
    assert.equal(n, 1);
  },
});

Deno.test({ name: "close migrate_admin_stats database", ...POOL_TEST, fn: () => t.close() });
