/**
 * Upgrade from the schema before cron (every migration below 014, every SQL file but
 * `cron/`): migrate() adds `cron_jobs` and the cron functions, keeps the jobs already there, and
 * a schedule declared afterwards fires in that schema.
 */
import assert from "node:assert/strict";
import { migrate } from "../../mod.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { evaluateCron } from "../../src/cron/evaluate.ts";
import { defineCronSchedule } from "../../src/cron/definition.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { upsertCronJobs } from "../../src/storage/cron.ts";
import { storeOf } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { cronTick } from "../support/cron.ts";

const t = await testDatabase("cron_upgrade");
const sql = t.sql;
const S = "before_cron";

Deno.test({
  name: "a schema from before migration 014 migrates to one where schedules fire",
  ...POOL_TEST,
  async fn() {
    const previous = {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version < 14),
      files: THIS_RELEASE.files.filter((f) => !f.file.startsWith("functions/cron/")),
    };
    await migrateRelease(sql, S, previous);
    const [{ exists }] = await sql<{ exists: boolean }[]>`
      SELECT to_regclass(${S + ".cron_jobs"}) IS NOT NULL AS exists`;
    assert.equal(exists, false);
    await sql.unsafe(`SELECT ${S}.insert_job('before_upgrade')`);

    const result = await migrate(sql, { schema: S });
    // 014 and every later migration of this release.
    assert.deepEqual(
      result.applied,
      THIS_RELEASE.migrations.map((m) => m.version).filter((v) => v >= 14),
    );
    assert.deepEqual(
      result.sqlFiles.filter((f) => f.startsWith("functions/cron/")).sort(),
      ["functions/cron/fire_cron_job", "functions/cron/trigger_cron_job"],
    );
    const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${S}.jobs`);
    assert.equal(n, 1, "the job from before the upgrade is still there");

    const store = storeOf(toExecutor(sql), S);
    await upsertCronJobs(store, [
      defineCronSchedule("after_upgrade", "* * * * * *", cronTick, {}, undefined, "cron"),
    ]);
    const pass = await evaluateCron(store, { now: new Date(Date.now() + 2000) });
    assert.equal(pass.fired, 1);
    const [{ m }] = await sql.unsafe(
      `SELECT count(*)::int AS m FROM ${S}.jobs WHERE metadata->>'cron_name' = 'after_upgrade'`,
    );
    assert.equal(m, 1);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
