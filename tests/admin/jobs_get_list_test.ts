/**
 * getJob and listJobs across every plane: queued, running, scheduled, retryable, failed, DLQ,
 * cancelled and completed in the ring (history: history_prune_test.ts); per-attempt timings; keyset pages
 * that cover every job exactly once; filters; and bad input refused with typed errors.
 */
import assert from "node:assert/strict";
import { defineJob, insert, insertMany, JobNotFoundError, ValidationError } from "../../mod.ts";
import { getJob, type JobRecord, listJobs } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { claimAndFinalize, claimOnly, promoteNow } from "./support.ts";

const t = await testDatabase("admin_get_list");
const sql = t.sql;

Deno.test("getJob finds a job in every state, with its body", POOL_TEST, async () => {
  const q = "planes";
  const def = defineJob<{ n: number }>("plane_job", { queue: q, maxAttempts: 3 });
  const state = async (id: number) => (await getJob(sql, id)).state;

  const ready = await insert(sql, def, { n: 1 }, { tags: ["a"], metadata: { m: 1 } });
  const got = await getJob(sql, ready.id);
  assert.equal(got.state, "available");
  assert.deepEqual(got.args, { n: 1 });
  assert.deepEqual(got.tags, ["a"]);
  assert.deepEqual(got.metadata, { m: 1 });
  assert.equal(got.maxAttempts, 3);
  assert.equal(got.plane, "ready");

  const later = await insert(sql, def, { n: 2 }, { runAt: new Date(Date.now() + 3_600_000) });
  assert.equal(await state(later.id), "scheduled");

  assert.deepEqual(await claimOnly(sql, q), [ready.id]);
  const running = await getJob(sql, ready.id);
  assert.equal(running.state, "running");
  assert.equal(running.attempts.length, 1);
  assert.ok(running.attempts[0].startedAt instanceof Date);
  assert.ok(running.attempts[0].instanceId, "the claiming instance is known");
  assert.equal(running.attempts[0].finishedAt, null);
});

Deno.test(
  "attempt history: each failed attempt has its timings and worker",
  POOL_TEST,
  async () => {
    const q = "attempts";
    const def = defineJob<{ n: number }>("attempt_job", { queue: q, maxAttempts: 2 });
    const j = await insert(sql, def, { n: 1 });
    assert.deepEqual(await claimAndFinalize(sql, q, "retry"), ["retryable"]);
    const retryable = await getJob(sql, j.id);
    assert.equal(retryable.state, "retryable");
    assert.equal(retryable.attempts.length, 1);
    const [a1] = retryable.attempts;
    assert.equal(a1.attempt, 1);
    assert.equal(a1.error, "boom");
    assert.ok(a1.startedAt && a1.finishedAt && a1.durationMs !== null && a1.durationMs >= 0);
    assert.ok(a1.instanceId);

    await promoteNow(sql);
    assert.deepEqual(await claimAndFinalize(sql, q, "retry"), ["failed"]);
    const failed = await getJob(sql, j.id);
    assert.equal(failed.state, "failed");
    assert.equal(failed.hold?.kind, "failed");
    assert.equal(failed.hold?.reason, "max_attempts_exhausted");
    assert.deepEqual(failed.attempts.map((a) => a.attempt), [1, 2]);
    assert.equal(failed.attempt, 2);
  },
);

Deno.test("listJobs pages cover every job exactly once, newest first", POOL_TEST, async () => {
  const q = "pages";
  const def = defineJob<{ n: number }>("page_job", { queue: q });
  const { ids } = await insertMany(
    sql,
    def,
    Array.from({ length: 25 }, (_, n) => ({ args: { n } })),
  );
  // Spread the jobs over planes: 5 completed, 5 running, 15 queued.
  await claimAndFinalize(sql, q, "completed", { n: 5 });
  await claimOnly(sql, q, 5);
  const seen: number[] = [];
  const states = new Set<string>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await listJobs(sql, { queue: q, limit: 10, cursor });
    seen.push(...page.items.map((x) => x.id));
    page.items.forEach((x) => states.add(x.state));
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...ids].map(Number).sort((a, b) => b - a));
  assert.deepEqual([...states].sort(), ["available", "completed", "running"]);

  const completed = await listJobs(sql, { queue: q, state: "completed" });
  assert.equal(completed.items.length, 5);
  assert.ok(completed.items.every((x: JobRecord) => x.state === "completed"));
});

Deno.test("listJobs filters by kind, tag and creation time", POOL_TEST, async () => {
  const q = "filters";
  const a = defineJob<{ n: number }>("filter_a", { queue: q });
  const b = defineJob<{ n: number }>("filter_b", { queue: q });
  const before = new Date(Date.now() - 1000);
  const ja = await insert(sql, a, { n: 1 }, { tags: ["red", "x"] });
  const jb = await insert(sql, b, { n: 2 }, { tags: ["blue"], runAt: new Date(Date.now() + 9e6) });
  const ids = async (o: Parameters<typeof listJobs>[1]) =>
    (await listJobs(sql, { queue: q, ...o })).items.map((x) => x.id);
  assert.deepEqual(await ids({ kind: "filter_a" }), [ja.id]);
  assert.deepEqual(await ids({ tag: "blue" }), [jb.id]);
  assert.deepEqual(await ids({ state: "scheduled" }), [jb.id]);
  assert.deepEqual(await ids({ since: before }), [jb.id, ja.id]);
  assert.deepEqual(await ids({ until: before }), []);
  assert.deepEqual(await ids({ kind: "filter_a", tag: "blue" }), []);
});

Deno.test("bad input: typed errors naming the field", POOL_TEST, async () => {
  await assert.rejects(getJob(sql, 999_999_999), (e) => {
    assert.ok(e instanceof JobNotFoundError);
    assert.equal(e.code, "JOB_NOT_FOUND");
    assert.equal(e.jobId, 999_999_999);
    return true;
  });
  const invalid = (field: string) => (e: unknown) =>
    e instanceof ValidationError && e.field === field;
  await assert.rejects(getJob(sql, 0), invalid("id"));
  await assert.rejects(getJob(sql, 1.5), invalid("id"));
  await assert.rejects(getJob(sql, "1" as unknown as number), invalid("id"));
  await assert.rejects(listJobs(sql, { state: "done" as never }), invalid("opts.state"));
  await assert.rejects(listJobs(sql, { limit: 0 }), invalid("opts.limit"));
  await assert.rejects(listJobs(sql, { limit: 1001 }), invalid("opts.limit"));
  await assert.rejects(listJobs(sql, { cursor: "nope" }), invalid("opts.cursor"));
  await assert.rejects(listJobs(sql, { cursor: "v1.@@" }), invalid("opts.cursor"));
  await assert.rejects(listJobs(sql, { queue: "bad queue" }), invalid("opts.queue"));
  await assert.rejects(listJobs(sql, { tag: "" }), invalid("opts.tag"));
  await assert.rejects(listJobs(sql, { since: new Date("x") }), invalid("opts.since"));
  const now = new Date();
  await assert.rejects(listJobs(sql, { since: now, until: now }), invalid("opts.until"));
  await assert.rejects(listJobs(sql, { stat: "x" } as never), invalid("opts.stat"));
  await assert.rejects(listJobs(sql, { schema: "no such" }), invalid("opts.schema"));
});

Deno.test("close database", POOL_TEST, () => t.close());
