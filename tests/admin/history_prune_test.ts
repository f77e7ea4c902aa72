/**
 * History that outlives the ring: a finished job is copied into `awa.job_history` by the prune
 * that truncates its slot, stays findable until its retention passes, and is then reclaimed by
 * dropping (or truncating) whole partitions, which also releases a completed unique job's key.
 * Tests run in order on one database: the first needs the default partition to itself.
 */
import assert from "node:assert/strict";
import {
  defineJob,
  insert,
  JobNotFoundError,
  UniqueConflictError,
  ValidationError,
} from "../../mod.ts";
import { getJob, getRetention, listJobs, setRetention } from "../../admin.ts";
import { history } from "../../src/maintenance/history.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, tickContext } from "../support/maintenance.ts";
import { POOL_TEST, sleep } from "../support/runtime.ts";
import { claimAndFinalize, pruneRings } from "./support.ts";

const t = await testDatabase("admin_history");
const sql = t.sql;
const upkeep = prepared(history, {}, tickContext(sql));

Deno.test("a completed unique job keeps its key until its history expires", POOL_TEST, async () => {
  const q = "short";
  await setRetention(sql, { queue: q, completedMs: 300 });
  const def = defineJob<{ n: number }>("short_job", { queue: q });
  const unique = { byArgs: true, states: ["available", "running", "completed"] as const };
  const j = await insert(sql, def, { n: 1 }, { unique: { ...unique, states: [...unique.states] } });
  assert.deepEqual(await claimAndFinalize(sql, q, "completed"), ["completed"]);
  await pruneRings(sql);
  assert.equal((await getJob(sql, j.id)).plane, "history");
  await assert.rejects(
    insert(sql, def, { n: 1 }, { unique: { ...unique, states: [...unique.states] } }),
    UniqueConflictError,
    "the key is held while the completed job is retained",
  );
  await sleep(400);
  // No hourly partitions exist yet (nothing created them): the row is in the default
  // partition, reclaimed once everything in it has expired.
  const [{ n }] = await sql`SELECT count(*)::int AS n FROM awa.job_history_default`;
  assert.equal(n, 1);
  assert.equal((await upkeep.tick()).historyPartitionsDropped, 1);
  await assert.rejects(getJob(sql, j.id), JobNotFoundError);
  const again = await insert(sql, def, { n: 1 }, {
    unique: { ...unique, states: [...unique.states] },
  });
  assert.notEqual(again.id, j.id, "the key is free once its history expired");
});

Deno.test("completed jobs stay findable after their ring slot is pruned", POOL_TEST, async () => {
  assert.ok((await upkeep.tick()).historyPartitionsCreated >= 25, "partitions for 24 h ahead");
  const q = "history";
  const def = defineJob<{ n: number }>("history_job", { queue: q });
  const j = await insert(sql, def, { n: 7 }, { tags: ["h"] });
  assert.deepEqual(await claimAndFinalize(sql, q, "completed", { result: { ok: 1 } }), [
    "completed",
  ]);
  const inRing = await getJob(sql, j.id);
  assert.equal(inRing.plane, "finished");
  assert.deepEqual(inRing.result, { ok: 1 });

  await pruneRings(sql);
  const kept = await getJob(sql, j.id);
  assert.equal(kept.plane, "history");
  assert.equal(kept.state, "completed");
  assert.deepEqual(kept.args, { n: 7 });
  assert.deepEqual(kept.tags, ["h"]);
  assert.deepEqual(kept.result, { ok: 1 });
  const ttl = kept.expiresAt!.getTime() - kept.finalizedAt!.getTime();
  assert.ok(Math.abs(ttl - 86_400_000) < 1000, `default retention is 24 h, got ${ttl} ms`);
  assert.equal(kept.attempts.at(-1)?.finishedAt?.getTime(), kept.finalizedAt?.getTime());
  const listed = await listJobs(sql, { queue: q });
  assert.deepEqual(listed.items.map((x) => x.id), [j.id], "listed once");
  const [{ n }] = await sql`SELECT count(*)::int AS n FROM awa.job_history_default`;
  assert.equal(n, 0, "the row went to its hourly partition");
});

Deno.test("cancelled jobs are kept too; retention 0 keeps nothing", POOL_TEST, async () => {
  const def = defineJob<{ n: number }>("zero_job", { queue: "zero" });
  await setRetention(sql, { queue: "zero", completedMs: 0 });
  const unique = { byArgs: true, states: ["available", "running", "completed"] };
  const gone = await insert(sql, def, { n: 1 }, { unique: { ...unique } as never });
  const cancelled = await insert(sql, def, { n: 2 }, { queue: "kept" });
  await sql`SELECT awa.cancel_job(${cancelled.id})`;
  assert.deepEqual(await claimAndFinalize(sql, "zero", "completed"), ["completed"]);
  await pruneRings(sql);
  await assert.rejects(getJob(sql, gone.id), JobNotFoundError);
  const c = await getJob(sql, cancelled.id);
  assert.equal(c.state, "cancelled");
  assert.equal(c.plane, "history");
  assert.match(c.attempts.at(-1)?.error ?? "", /^cancelled: /);
  // Nothing retained: the key was released at prune, as before history existed.
  await insert(sql, def, { n: 1 }, { unique: { ...unique } as never });
});

Deno.test("an expired hourly partition is dropped whole", POOL_TEST, async () => {
  await sql.unsafe(`CREATE TABLE awa.job_history_2000010100 PARTITION OF awa.job_history
    FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-01-01 01:00+00')`);
  await sql`INSERT INTO awa.job_history (expires_at, job_id, run_lease, queue, kind, priority,
    state, attempt, max_attempts, args, tags, metadata, created_at, finalized_at, unique_key)
    VALUES ('2000-01-01 00:30+00', 424242, 1, 'old', 'old_job', 2, 'completed', 1, 1, '{}', '{}',
      '{}', '2000-01-01', '2000-01-01', '\\x00ff')`;
  await sql`INSERT INTO awa.job_unique_claims VALUES ('\\x00ff', 424242)`;
  assert.equal((await getJob(sql, 424242)).plane, "history");
  const before = upkeep.stats.historyPartitionsDropped;
  assert.equal((await upkeep.tick()).historyPartitionsDropped, before + 1);
  const [{ r }] = await sql`SELECT to_regclass('awa.job_history_2000010100') AS r`;
  assert.equal(r, null);
  const claims = await sql`SELECT 1 FROM awa.job_unique_claims WHERE job_id = 424242`;
  assert.equal(claims.length, 0, "its completed job's unique claim went with it");
  await assert.rejects(getJob(sql, 424242), JobNotFoundError);
  const [{ dead }] = await sql`SELECT coalesce(sum(n_dead_tup), 0)::int AS dead
    FROM pg_stat_user_tables WHERE relname LIKE 'job_history%'`;
  assert.equal(dead, 0, "history is never deleted row by row");
});

Deno.test("retention settings: defaults, overrides, validation", POOL_TEST, async () => {
  assert.deepEqual(await getRetention(sql), {
    completedMs: 86_400_000,
    failedMs: 86_400_000,
    dlqMs: 30 * 86_400_000,
  });
  await setRetention(sql, { queue: "r", completedMs: 5000, dlqMs: 7000 });
  assert.deepEqual(await getRetention(sql, { queue: "r" }), {
    completedMs: 5000,
    failedMs: 5000,
    dlqMs: 7000,
  });
  await setRetention(sql, { queue: "r", completedMs: null, failedMs: 1 });
  assert.deepEqual(await getRetention(sql, { queue: "r" }), {
    completedMs: 86_400_000,
    failedMs: 1,
    dlqMs: 7000,
  });
  const invalid = (field: string) => (e: unknown) =>
    e instanceof ValidationError && e.field === field;
  await assert.rejects(setRetention(sql, { completedMs: -1 }), invalid("opts.completedMs"));
  await assert.rejects(setRetention(sql, { completedMs: null }), invalid("opts.completedMs"));
  await assert.rejects(setRetention(sql, { dlqMs: 1.5 }), invalid("opts.dlqMs"));
  await assert.rejects(setRetention(sql, { queue: "" }), invalid("opts.queue"));
  await assert.rejects(
    setRetention(sql, { completed: 1 } as never),
    invalid("opts.completed"),
  );
});

Deno.test("close database", POOL_TEST, () => t.close());
