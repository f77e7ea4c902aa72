/**
 * Upgrade from the previous schema (migration 011, tests/fixtures/release_v11.json: its
 * migrations and SQL files as they shipped, generated from src/migrations_embedded.ts at that
 * release) to this one (012: retention settings, job_history): jobs in every state survive,
 * a job that completed before the upgrade is copied into history by the first prune after it,
 * and a completed unique job keeps its key until its history expires.
 */
import assert from "node:assert/strict";
import {
  defineJob,
  insert,
  migrate,
  stateMaskBits,
  UniqueConflictError,
  uniqueKeyHex,
} from "../../mod.ts";
import { cancelJob, getJob, listJobs } from "../../admin.ts";
import { migrateRelease, type Release, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { claimAndFinalize, claimOnly, pruneRings } from "./support.ts";

const t = await testDatabase("admin_upgrade");
const sql = t.sql;
const previous = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/release_v11.json", import.meta.url)),
) as Pick<Release, "migrations" | "files">;

Deno.test("a 011 schema holding jobs upgrades to 012 and keeps them", POOL_TEST, async () => {
  await sql.unsafe("DROP SCHEMA awa CASCADE");
  await migrateRelease(sql, "awa", { ...THIS_RELEASE, ...previous, drops: [] });
  const [{ v }] = await sql`SELECT max(version)::int AS v FROM awa.schema_version`;
  assert.equal(v, 11);

  // The 011 release's producers: its SQL contract (this code's insert() requires 012).
  const states = ["available", "running", "completed"] as const;
  const insertV11 = async (n: number, unique = false) => {
    const key = unique ? uniqueKeyHex({ kind: "upgrade_job", args: { n } }) : null;
    const [{ id }] = await sql`SELECT id::int FROM awa.insert_job('upgrade_job',
      ${JSON.stringify({ n })}::text::jsonb, 'up', 2::smallint, 1::smallint, NULL, '{}', '{}',
      decode(${key}, 'hex'), ${unique ? stateMaskBits([...states]) : null}::bit(8))`;
    return { id: id as number };
  };
  const done = await insertV11(1, true);
  assert.deepEqual(await claimAndFinalize(sql, "up", "completed"), ["completed"]);
  const failed = await insertV11(2);
  assert.deepEqual(await claimAndFinalize(sql, "up", "fail"), ["failed"]);
  const running = await insertV11(3);
  await claimOnly(sql, "up");
  const queued = await insertV11(4);

  const r = await migrate(sql);
  // 012 and every later migration of this release.
  assert.deepEqual(r.applied, THIS_RELEASE.migrations.map((m) => m.version).filter((v) => v >= 12));
  assert.equal((await getJob(sql, done.id)).state, "completed");
  assert.equal((await getJob(sql, failed.id)).hold?.kind, "failed");
  assert.equal((await getJob(sql, running.id)).state, "running");
  assert.equal((await getJob(sql, queued.id)).state, "available");

  // The running attempt is closed by a cancel (a prune waits for open attempts).
  assert.equal(await cancelJob(sql, running.id), true);
  assert.equal(await cancelJob(sql, queued.id), true);
  await pruneRings(sql);
  const kept = await getJob(sql, done.id);
  assert.equal(kept.plane, "history", "completed before the upgrade, kept after the prune");
  assert.deepEqual(kept.args, { n: 1 });
  const def = defineJob<{ n: number }>("upgrade_job", { queue: "up" });
  await assert.rejects(
    insert(sql, def, { n: 1 }, { unique: { byArgs: true, states: [...states] } }),
    UniqueConflictError,
  );
  const listed = (await listJobs(sql, { queue: "up" })).items.map((j) => [j.id, j.state]);
  assert.deepEqual(listed, [
    [queued.id, "cancelled"],
    [running.id, "cancelled"],
    [failed.id, "failed"],
    [done.id, "completed"],
  ]);
});

Deno.test("close database", POOL_TEST, () => t.close());
