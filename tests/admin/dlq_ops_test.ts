/**
 * DLQ operations: list with filters and pages, get, retry (one, bulk, all) with overrides,
 * purge (one, bulk, all) releasing unique keys, move a held failure into the DLQ, and the
 * `dlq_cleanup` service expiring held jobs by retention. Bad input writes nothing.
 */
import assert from "node:assert/strict";
import {
  defineJob,
  insert,
  insertMany,
  JobNotFoundError,
  JobStateError,
  ValidationError,
} from "../../mod.ts";
import {
  getDlqJob,
  getJob,
  listDlq,
  moveToDlq,
  purgeDlq,
  purgeDlqJobs,
  retryDlq,
  retryDlqJobs,
  setRetention,
} from "../../admin.ts";
import { dlqCleanup } from "../../src/maintenance/dlq_cleanup.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, tickContext } from "../support/maintenance.ts";
import { POOL_TEST, sleep } from "../support/runtime.ts";
import { claimAndFinalize, snapshot } from "./support.ts";

const t = await testDatabase("admin_dlq");
const sql = t.sql;
const invalid = (field: string) => (e: unknown) =>
  e instanceof ValidationError && e.field === field;

/** `n` jobs of `kind` in queue `q`, failed into the DLQ. Returns their ids. */
async function intoDlq(q: string, kind: string, n: number): Promise<number[]> {
  const def = defineJob<{ n: number }>(kind, { queue: q, maxAttempts: 1 });
  const { ids } = await insertMany(
    sql,
    def,
    Array.from({ length: n }, (_, i) => ({ args: { n: i } })),
  );
  assert.deepEqual(await claimAndFinalize(sql, q, "fail", { dlq: true }), Array(n).fill("failed"));
  return ids.map(Number);
}

Deno.test("list, get and retry DLQ jobs", POOL_TEST, async () => {
  const ids = await intoDlq("dlq_a", "dlq_kind_a", 12);
  await intoDlq("dlq_b", "dlq_kind_b", 3);
  const seen: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await listDlq(sql, { queue: "dlq_a", limit: 5, cursor });
    assert.ok(
      page.items.every((j) => j.hold?.kind === "dlq" && j.hold.reason === "terminal_error"),
    );
    seen.push(...page.items.map((j) => j.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  assert.deepEqual(seen, [...ids].sort((a, b) => b - a));
  assert.equal((await listDlq(sql, { kind: "dlq_kind_b" })).items.length, 3);

  const one = await getDlqJob(sql, ids[0]);
  assert.equal(one.state, "failed");
  assert.equal(one.attempts.at(-1)?.terminal, true);
  assert.equal(await retryDlq(sql, ids[0], { queue: "dlq_elsewhere", priority: 3 }), ids[0]);
  const back = await getJob(sql, ids[0]);
  assert.equal(back.state, "available");
  assert.equal(back.queue, "dlq_elsewhere");
  assert.equal(back.attempt, 0);
  assert.equal(back.attempts.length, 1, "error history kept");
  await assert.rejects(getDlqJob(sql, ids[0]), JobNotFoundError);
  await assert.rejects(retryDlq(sql, ids[0]), JobNotFoundError);

  const before = await snapshot(sql);
  await assert.rejects(retryDlqJobs(sql, {}), invalid("opts"));
  await assert.rejects(purgeDlqJobs(sql, {}), invalid("opts"));
  await assert.rejects(
    retryDlqJobs(sql, { queue: "dlq_a", to: { runAt: new Date(NaN) } }),
    invalid("opts.to.runAt"),
  );
  await assert.rejects(retryDlq(sql, ids[1], { priority: 0 }), invalid("opts.priority"));
  await assert.rejects(listDlq(sql, { cursor: "v1.x" }), invalid("opts.cursor"));
  assert.equal(await snapshot(sql), before, "nothing written on bad input");

  const r = await retryDlqJobs(sql, { queue: "dlq_a", batchSize: 4, to: { queue: "dlq_retry" } });
  assert.equal(r.count, 11);
  assert.equal((await listDlq(sql, { queue: "dlq_a" })).items.length, 0);
  assert.equal((await getJob(sql, ids[5])).queue, "dlq_retry");
  assert.equal((await retryDlqJobs(sql, { all: true })).count, 3);
});

Deno.test("purge DLQ jobs; a purged unique job frees its key", POOL_TEST, async () => {
  const q = "dlq_purge";
  const def = defineJob<{ n: number }>("dlq_purge", { queue: q, maxAttempts: 1 });
  const unique = { byArgs: true, states: ["available", "running", "failed"] };
  const u = await insert(sql, def, { n: -1 }, { unique: unique as never, queue: "dlq_purge_u" });
  assert.deepEqual(await claimAndFinalize(sql, "dlq_purge_u", "fail", { dlq: true }), ["failed"]);
  const ids = [u.id, ...await intoDlq(q, "dlq_purge", 6)];
  await purgeDlq(sql, u.id);
  await assert.rejects(getJob(sql, u.id), JobNotFoundError);
  await assert.rejects(purgeDlq(sql, u.id), JobNotFoundError);
  await insert(sql, def, { n: -1 }, { unique: unique as never, queue: "dlq_purge_u" });
  const r = await purgeDlqJobs(sql, { queue: q, batchSize: 4 });
  assert.equal(r.count, 6);
  for (const id of ids.slice(1)) await assert.rejects(getJob(sql, id), JobNotFoundError);
});

Deno.test("move a held failure into the DLQ", POOL_TEST, async () => {
  const q = "dlq_move";
  const def = defineJob<{ n: number }>("dlq_move", { queue: q, maxAttempts: 1 });
  const j = await insert(sql, def, { n: 1 });
  assert.deepEqual(await claimAndFinalize(sql, q, "fail"), ["failed"]);
  assert.equal((await getJob(sql, j.id)).hold?.kind, "failed");
  await moveToDlq(sql, j.id);
  const moved = await getDlqJob(sql, j.id);
  assert.equal(moved.hold?.reason, "manual");
  await assert.rejects(moveToDlq(sql, j.id), JobStateError);
  const ready = await insert(sql, def, { n: 2 });
  await assert.rejects(moveToDlq(sql, ready.id), JobStateError);
  await assert.rejects(moveToDlq(sql, 987_654_321), JobNotFoundError);
  await assert.rejects(moveToDlq(sql, j.id, { reason: 5 as never }), invalid("opts.reason"));
});

Deno.test("dlq_cleanup expires held jobs by their queue's retention", POOL_TEST, async () => {
  await setRetention(sql, { queue: "dlq_expire", dlqMs: 100, failedMs: 100 });
  const ids = await intoDlq("dlq_expire", "dlq_expire", 5);
  const kept = await intoDlq("dlq_keep", "dlq_keep", 2);
  await sleep(200);
  const cleanup = prepared(dlqCleanup, { batchSize: 2 }, tickContext(sql));
  assert.equal((await cleanup.tick()).heldJobsExpired, 5, "in batches of 2");
  for (const id of ids) await assert.rejects(getJob(sql, id), JobNotFoundError);
  for (const id of kept) assert.equal((await getJob(sql, id)).hold?.kind, "dlq");
  assert.throws(
    () => dlqCleanup.resolve({ batchSize: 0 }, "maintenance.dlq_cleanup", {} as never),
    invalid("maintenance.dlq_cleanup.batchSize"),
  );
});

Deno.test("close database", POOL_TEST, () => t.close());
