/**
 * Upgrade from the schema before callbacks (every migration below 016, every SQL file but
 * `callbacks/`): migrate() adds the callback columns and functions, keeps the jobs already
 * there, and a job parks and completes through its callback afterwards.
 */
import assert from "node:assert/strict";
import { Client, completeExternal, defineJob, insert, migrate } from "../../mod.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("callbacks_upgrade");
const sql = t.sql;
const S = "before_callbacks";

Deno.test({
  name: "a schema from before migration 016 migrates to one where jobs park on callbacks",
  ...POOL_TEST,
  async fn() {
    const previous = {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version < 16),
      files: THIS_RELEASE.files.filter((f) => !f.file.startsWith("functions/callbacks/")),
    };
    await migrateRelease(sql, S, previous);
    const [{ exists }] = await sql<{ exists: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM information_schema.columns
        WHERE table_schema = ${S} AND table_name = 'attempt_state'
          AND column_name = 'callback_parked') AS exists`;
    assert.equal(exists, false);
    await sql.unsafe(`SELECT ${S}.insert_job('before_upgrade')`);

    const result = await migrate(sql, { schema: S });
    assert.deepEqual(
      result.applied,
      THIS_RELEASE.migrations.map((m) => m.version).filter((v) => v >= 16),
    );
    assert.deepEqual(
      result.sqlFiles.filter((f) => f.startsWith("functions/callbacks/")).sort(),
      [
        "functions/callbacks/callback_attempt_open",
        "functions/callbacks/expire_callbacks",
        "functions/callbacks/notify_callback",
        "functions/callbacks/park_callback",
        "functions/callbacks/register_callback",
        "functions/callbacks/resolve_callback",
        "functions/callbacks/wait_callback_step",
      ],
    );
    const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${S}.jobs`);
    assert.equal(n, 1, "the job from before the upgrade is still there");

    const job = defineJob<unknown>("after_upgrade", { queue: "up" });
    let id: string | null = null;
    const client = new Client(t.connect(), {
      schema: S,
      queues: { up: {} },
      ...TIMINGS,
      maintenance: false,
    });
    client.work(job, async (_job, ctx) => {
      id = await ctx.registerCallback({ timeoutMs: 60_000 });
      return ctx.park(id);
    });
    await client.start();
    try {
      const j = await insert(sql, job, {}, { schema: S });
      const parked = await waitFor("parked", async () => {
        if (id === null) return null;
        const [row] = await sql.unsafe(
          `SELECT state::text FROM ${S}.attempt_state WHERE callback_id = $1::uuid`,
          [id],
        );
        return row?.state === "waiting_external" ? id : null;
      });
      const done = await completeExternal(sql, parked, { ok: true }, { schema: S });
      assert.deepEqual(done, { jobId: j.id, state: "completed", action: "complete" });
    } finally {
      await client.shutdown();
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
