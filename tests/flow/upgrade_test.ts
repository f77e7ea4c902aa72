/**
 * Upgrade from the schema before flow control (every migration below 018, every SQL file but
 * `flow/`): migrate() adds the key and rate tables and functions, keeps the jobs already there,
 * and keyed jobs inserted afterwards obey their key's limit in that schema.
 */
import assert from "node:assert/strict";
import { defineJob, insert, migrate } from "../../mod.ts";
import { getFlowControl, setRateLimit } from "../../admin.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("flow_upgrade");
const sql = t.sql;
const S = "before_flow";

Deno.test({
  name: "a schema from before migration 018 migrates to one where keys and rate limits hold",
  ...POOL_TEST,
  async fn() {
    const previous = {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version < 18),
      files: THIS_RELEASE.files.filter((f) => !f.file.startsWith("functions/flow/")),
    };
    await migrateRelease(sql, S, previous);
    const [{ exists }] = await sql<{ exists: boolean }[]>`
      SELECT to_regclass(${S + ".key_admissions"}) IS NOT NULL AS exists`;
    assert.equal(exists, false);
    await sql.unsafe(`SELECT ${S}.insert_job('before_upgrade', '{}', 'up')`);

    const result = await migrate(sql, { schema: S });
    assert.deepEqual(
      result.applied,
      THIS_RELEASE.migrations.map((m) => m.version).filter((v) => v >= 18),
    );
    assert.ok(result.sqlFiles.includes("functions/flow/key_enter"));
    const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${S}.jobs`);
    assert.equal(n, 1, "the job from before the upgrade is still there");

    const def = defineJob<{ n: number }>("after_upgrade", {
      queue: "up",
      concurrencyKey: () => "tenant",
      concurrency: { perKey: 1 },
    });
    await insert(sql, def, { n: 1 }, { schema: S });
    await insert(sql, def, { n: 2 }, { schema: S });
    const flow = await getFlowControl(sql, "up", { schema: S });
    assert.equal(flow.admitted, 1);
    assert.equal(flow.waiting, 1);
    await setRateLimit(sql, "up", { count: 1 }, { schema: S });
    const claimed = await sql.unsafe(
      `SELECT job_id FROM ${S}.claim_batch('up', 10, 0, 0, gen_random_uuid())`,
    );
    assert.equal(claimed.length, 1, "one token, and one admitted keyed job besides the old one");
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
