/**
 * Upgrade from schema 015 (before live overrides): migrate() adds `queue_overrides` (migration
 * 017), keeps the jobs already there, and overrides set afterwards reach a running Client.
 */
import assert from "node:assert/strict";
import { Client, defineJob, migrate } from "../../mod.ts";
import { getQueueOverrides, setQueueOverrides } from "../../admin.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("flow_overrides_upgrade");
const sql = t.sql;
const S = "before_overrides";

Deno.test({
  name: "a schema at migration 015 migrates to one whose overrides reach a Client",
  ...POOL_TEST,
  async fn() {
    await migrateRelease(sql, S, {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version <= 15),
    });
    const [{ exists }] = await sql<{ exists: boolean }[]>`
      SELECT to_regclass(${S + ".queue_overrides"}) IS NOT NULL AS exists`;
    assert.equal(exists, false);
    await sql.unsafe(`SELECT ${S}.insert_job('ov_up', p_queue => 'ov_up')`);

    const result = await migrate(sql, { schema: S });
    // 017 and every other migration of this release after 015.
    assert.deepEqual(
      result.applied,
      THIS_RELEASE.migrations.map((m) => m.version).filter((v) => v > 15),
    );
    assert.ok(result.applied.includes(17));
    const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${S}.jobs`);
    assert.equal(n, 1, "the job from before the upgrade is still there");

    await setQueueOverrides(sql, "ov_up", { deadlineMs: 45_000 }, { schema: S });
    assert.equal((await getQueueOverrides(sql, "ov_up", { schema: S })).deadlineMs, 45_000);
    const job = defineJob<Record<string, never>>("ov_up", { queue: "ov_up" });
    let deadlineIn = 0;
    const client = new Client(t.connect(), { schema: S, queues: { ov_up: {} }, ...TIMINGS });
    client.work(job, (j) => {
      deadlineIn = j.deadlineAt!.getTime() - Date.now();
    });
    try {
      await client.start();
      await waitFor("the old job ran", () => deadlineIn !== 0);
      assert.ok(deadlineIn > 0 && deadlineIn <= 45_000, `deadline in ${deadlineIn} ms`);
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
